"""What an account's fields may hold when one is made (sign-up, and the owner's CLI), and
what signing in sends."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from minimart.domain.accounts import MAX_PASSWORD_LENGTH


class Registration(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True,
                             validate=validate.Length(min=1, max=MAX_PASSWORD_LENGTH))
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))


class Credentials(Schema):
    """Signing in: the API's token and the pages' sign-in form."""

    email = fields.String(required=True, validate=validate.Length(min=1, max=254))
    password = fields.String(required=True,
                             validate=validate.Length(min=1, max=MAX_PASSWORD_LENGTH))
    otp = fields.String(validate=validate.Length(min=1, max=64))

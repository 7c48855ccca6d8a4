"""What an account's fields may hold when one is made (sign-up, and the owner's CLI)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from minimart.domain.accounts import MAX_PASSWORD_LENGTH


class Registration(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True,
                             validate=validate.Length(min=1, max=MAX_PASSWORD_LENGTH))
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))

"""What an account's fields may hold when one is made (sign-up, and the owner's CLI) or
changed by its owner, and what signing in sends."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from minimart.domain.accounts import MAX_NAME_LENGTH, MAX_PASSWORD_LENGTH, PHONE_PATTERN
from minimart.entrypoints.schemas.common import AtLeastOneField

NAME = validate.Length(min=1, max=MAX_NAME_LENGTH)
PHONE = validate.Regexp(PHONE_PATTERN, error="must be + and 8 to 15 digits, e.g. +6591234567")


class Registration(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True,
                             validate=validate.Length(min=1, max=MAX_PASSWORD_LENGTH))
    name = fields.String(required=True, validate=NAME)


class Credentials(Schema):
    """Signing in: the API's token and the pages' sign-in form."""

    email = fields.String(required=True, validate=validate.Length(min=1, max=254))
    password = fields.String(required=True,
                             validate=validate.Length(min=1, max=MAX_PASSWORD_LENGTH))
    otp = fields.String(validate=validate.Length(min=1, max=64))


class ProfilePatch(AtLeastOneField):
    """PATCH /accounts/me: the owner's name and phone (null clears the phone)."""

    name = fields.String(validate=NAME)
    phone = fields.String(allow_none=True, validate=PHONE,
                          metadata={"description": "E.164, e.g. +6591234567; null clears it"})

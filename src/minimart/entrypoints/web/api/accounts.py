"""/api/v1/accounts and /api/v1/auth/token: register, sign in, and read and change oneself."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response

from minimart.domain import errors
from minimart.domain.accounts import MAX_PASSWORD_LENGTH, OtpRequired, OtpUsed, RateLimited
from minimart.domain.actors import Permission, Role
from minimart.entrypoints.schemas.accounts import Credentials, ProfilePatch, Registration
from minimart.entrypoints.web.api.body import json_body
from minimart.entrypoints.web.api.operation import NO_CONTENT, Answer, Operations
from minimart.entrypoints.web.api.shapes import ident, maybe_text, text, timestamp, whole

api = Operations(tag="accounts")
OWN = Permission.VIEW_OWN_ACCOUNT
SECOND_FACTOR = Permission.SECOND_FACTOR


class AccountSchema(Schema):
    id = ident()
    email = text()
    name = text()
    phone = maybe_text(metadata={"description": "E.164, e.g. +6591234567; null when unset"})
    role = text(validate=validate.OneOf([role.value for role in Role]))
    created_at = timestamp()


class TokenSchema(Schema):
    access_token = text()
    token_type = text(validate=validate.OneOf(["Bearer"]))
    expires_in = whole(1)


class TotpEnrolmentSchema(Schema):
    otpauth_uri = text(validate=validate.Regexp("^otpauth://"))
    recovery_codes = fields.List(fields.String(), required=True)


class PasswordChange(Schema):
    current_password = fields.String(required=True,
                                     validate=validate.Length(min=1, max=MAX_PASSWORD_LENGTH))
    new_password = fields.String(required=True,
                                 validate=validate.Length(min=1, max=MAX_PASSWORD_LENGTH))


class TotpStart(Schema):
    password = fields.String(required=True,
                             validate=validate.Length(min=1, max=MAX_PASSWORD_LENGTH))


class TotpConfirm(Schema):
    code = fields.String(required=True, validate=validate.Length(min=6, max=10))


account_schema = AccountSchema()


@api.operation("POST", "/accounts", route="api.accounts.list",
               operation_id="registerAccount", summary="Register a customer account",
               answers=(Answer(201, AccountSchema, "the new account", ("Location",)),),
               body=Registration,
               errors=(errors.ValidationFailed, errors.EmailTaken, RateLimited))
def register(request: Request) -> dict[str, Any]:
    data = json_body(request, Registration())
    account = request.services.accounts.register(data["email"], data["password"],
                                                 data["name"], request.actor,
                                                 client=request.remote_addr)
    request.response.status_int = 201
    request.response.location = request.route_url("api.accounts.me")
    return account_schema.dump(account)


@api.operation("POST", "/auth/token", route="api.auth.token", operation_id="issueToken",
               summary="Sign in for a bearer token (with `otp` when two-factor sign-in is on)",
               answers=(Answer(200, TokenSchema, "a bearer token"),), body=Credentials,
               errors=(errors.InvalidCredentials, OtpRequired, OtpUsed,
                       errors.TotpEnrolmentRequired, RateLimited))
def issue_token(request: Request) -> dict[str, Any]:
    data = json_body(request, Credentials())
    account = request.services.accounts.authenticate(
        data["email"], data["password"], client=request.remote_addr, otp=data.get("otp"))
    codec = request.registry.token_codec
    request.response.cache_control = "no-store"
    return {"access_token": codec.issue(account), "token_type": "Bearer",
            "expires_in": codec.expires_in}


@api.operation("GET", "/accounts/me", route="api.accounts.me", operation_id="getOwnAccount",
               summary="The signed-in account",
               answers=(Answer(200, AccountSchema, "the account"),), permission=OWN)
def me(request: Request) -> dict[str, Any]:
    return account_schema.dump(request.account)


@api.operation("PATCH", "/accounts/me", route="api.accounts.me",
               operation_id="updateOwnAccount",
               summary="Change one's name or phone (`phone: null` clears it)",
               answers=(Answer(200, AccountSchema, "the account"),), permission=OWN,
               body=ProfilePatch, errors=(errors.ValidationFailed,))
def update_me(request: Request) -> dict[str, Any]:
    changes = json_body(request, ProfilePatch())
    account = request.services.accounts.update_profile(request.account.id, changes,
                                                       request.actor)
    return account_schema.dump(account)


@api.operation("POST", "/accounts/me/password", route="api.accounts.password",
               operation_id="changePassword",
               summary="Change one's password; every earlier token stops working",
               answers=(NO_CONTENT,), permission=OWN, body=PasswordChange,
               errors=(errors.InvalidCredentials, errors.ValidationFailed))
def change_password(request: Request) -> Response:
    data = json_body(request, PasswordChange())
    request.services.accounts.change_password(request.account.id, data["current_password"],
                                              data["new_password"], request.actor)
    return Response(status=204, content_type=None)


@api.operation("POST", "/auth/totp", route="api.auth.totp", operation_id="startTotp",
               summary="Start two-factor sign-in",
               answers=(Answer(201, TotpEnrolmentSchema, "the secret's URI and the recovery "
                                                         "codes, shown this once"),),
               permission=SECOND_FACTOR, body=TotpStart,
               errors=(errors.InvalidCredentials, errors.InvalidState))
def start_totp(request: Request) -> dict[str, Any]:
    data = json_body(request, TotpStart())
    enrolment = request.services.accounts.begin_totp(request.account.id, data["password"],
                                                     request.actor)
    request.response.status_int = 201
    request.response.cache_control = "no-store"
    return {"otpauth_uri": enrolment.otpauth_uri, "recovery_codes": enrolment.recovery_codes}


@api.operation("POST", "/auth/totp/confirm", route="api.auth.totp_confirm",
               operation_id="confirmTotp", summary="Confirm two-factor sign-in with a first code",
               answers=(NO_CONTENT,), permission=SECOND_FACTOR, body=TotpConfirm,
               errors=(errors.ValidationFailed,))
def confirm_totp(request: Request) -> Response:
    data = json_body(request, TotpConfirm())
    request.services.accounts.confirm_totp(request.account.id, data["code"], request.actor)
    return Response(status=204, content_type=None)


def includeme(config: Configurator) -> None:
    api.register(config)

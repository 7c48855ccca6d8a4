"""/api/v1/accounts and /api/v1/auth/token: register, sign in, and read oneself."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response

from minimart.domain.accounts import MAX_PASSWORD_LENGTH
from minimart.domain.actors import Permission
from minimart.entrypoints.schemas.accounts import Registration
from minimart.entrypoints.web.api.body import json_body


class AccountSchema(Schema):
    id = fields.String()
    email = fields.String()
    name = fields.String()
    role = fields.String()
    created_at = fields.DateTime()


class Credentials(Schema):
    email = fields.String(required=True, validate=validate.Length(min=1, max=254))
    password = fields.String(required=True,
                             validate=validate.Length(min=1, max=MAX_PASSWORD_LENGTH))
    otp = fields.String(validate=validate.Length(min=1, max=64))


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


def register(request: Request) -> dict[str, Any]:
    data = json_body(request, Registration())
    account = request.services.accounts.register(data["email"], data["password"],
                                                 data["name"], request.actor,
                                                 client=request.remote_addr)
    request.response.status_int = 201
    request.response.location = request.route_url("api.accounts.me")
    return account_schema.dump(account)


def issue_token(request: Request) -> dict[str, Any]:
    data = json_body(request, Credentials())
    account = request.services.accounts.authenticate(
        data["email"], data["password"], client=request.remote_addr, otp=data.get("otp"))
    codec = request.registry.token_codec
    request.response.cache_control = "no-store"
    return {"access_token": codec.issue(account), "token_type": "Bearer",
            "expires_in": codec.expires_in}


def me(request: Request) -> dict[str, Any]:
    return account_schema.dump(request.account)


def change_password(request: Request) -> Response:
    data = json_body(request, PasswordChange())
    request.services.accounts.change_password(request.account.id, data["current_password"],
                                              data["new_password"], request.actor)
    return Response(status=204, content_type=None)


def start_totp(request: Request) -> dict[str, Any]:
    data = json_body(request, TotpStart())
    enrolment = request.services.accounts.begin_totp(request.account.id, data["password"],
                                                     request.actor)
    request.response.status_int = 201
    request.response.cache_control = "no-store"
    return {"otpauth_uri": enrolment.otpauth_uri, "recovery_codes": enrolment.recovery_codes}


def confirm_totp(request: Request) -> Response:
    data = json_body(request, TotpConfirm())
    request.services.accounts.confirm_totp(request.account.id, data["code"], request.actor)
    return Response(status=204, content_type=None)


def includeme(config: Configurator) -> None:
    config.add_route("api.accounts.list", "/accounts")
    config.add_route("api.accounts.me", "/accounts/me")
    config.add_route("api.auth.token", "/auth/token")
    config.add_view(register, route_name="api.accounts.list", request_method="POST")
    config.add_view(issue_token, route_name="api.auth.token", request_method="POST")
    config.add_route("api.accounts.password", "/accounts/me/password")
    config.add_route("api.auth.totp", "/auth/totp")
    config.add_route("api.auth.totp_confirm", "/auth/totp/confirm")
    own = Permission.VIEW_OWN_ACCOUNT.value
    config.add_view(me, route_name="api.accounts.me", request_method="GET", permission=own)
    config.add_view(change_password, route_name="api.accounts.password",
                    request_method="POST", permission=own)
    config.add_view(start_totp, route_name="api.auth.totp", request_method="POST",
                    permission=Permission.SECOND_FACTOR.value)
    config.add_view(confirm_totp, route_name="api.auth.totp_confirm", request_method="POST",
                    permission=Permission.SECOND_FACTOR.value)

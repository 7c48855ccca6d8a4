"""One Pyramid 2 security policy: identity from the bearer token, permissions from roles.

pyramid-jwt is used only as the token codec; its legacy authentication policy cannot sit
beside a Pyramid 2 security policy. The algorithm is pinned; a token whose account has
since been deleted or disabled identifies nobody.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.security import Allowed, Denied
from pyramid_jwt import create_jwt_authentication_policy

from minimart.domain.accounts import ROLE_PERMISSIONS, Account, Actor
from minimart.domain.ids import new_id

ALGORITHM = "HS256"


class TokenCodec:
    def __init__(self, config: Configurator, secret: str, expiration_seconds: int) -> None:
        self.expires_in = expiration_seconds
        self._jwt = create_jwt_authentication_policy(
            config, private_key=secret, algorithm=ALGORITHM,
            expiration=timedelta(seconds=expiration_seconds), auth_type="Bearer")

    def issue(self, account: Account) -> str:
        """A short-lived token: `sub` (a string: PyJWT 2.10+ refuses others), `iat`, `exp`,
        `jti`, and `gen`, the account's token generation (bumped to revoke)."""
        return self._jwt.create_token(account.id, jti=new_id(), gen=account.token_generation)

    def claims(self, request: Request) -> tuple[str, int] | None:
        """The account id a valid, unexpired, correctly signed bearer token names.

        The scheme is matched case-insensitively (RFC 9110), which pyramid-jwt does not do.
        """
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        claims = self._jwt.jwt_decode(request, token.strip())
        sub, generation = claims.get("sub"), claims.get("gen")
        if not isinstance(sub, str) or isinstance(generation, bool) or \
                not isinstance(generation, int):
            return None
        return sub, generation


class MinimartSecurityPolicy:
    def identity(self, request: Request) -> Account | None:
        return request.account

    def authenticated_userid(self, request: Request) -> str | None:
        account = request.account
        return None if account is None else account.id

    def permits(self, request: Request, context: Any, permission: str) -> Allowed | Denied:
        account = request.account
        if account is None:
            return Denied("not signed in")
        if permission in ROLE_PERMISSIONS[account.role]:
            return Allowed(f"role {account.role} has {permission}")
        return Denied(f"role {account.role} lacks {permission}")

    def remember(self, request: Request, userid: str, **kw: Any) -> list[tuple[str, str]]:
        return []

    def forget(self, request: Request, **kw: Any) -> list[tuple[str, str]]:
        return []


def _account(request: Request) -> Account | None:
    claims = request.registry.token_codec.claims(request)
    if claims is None:
        return None
    account = request.services.accounts.find_active(*claims)
    request.authenticated_account_id = account and account.id
    return account


def _actor(request: Request) -> Actor:
    account = request.account
    request_id = getattr(request, "request_id", None)
    if account is None:
        return Actor.anonymous(request_id)
    return Actor(account_id=account.id, role=account.role, request_id=request_id)


def includeme(config: Configurator) -> None:
    settings = config.registry.container.settings
    config.registry.token_codec = TokenCodec(config, settings.jwt_secret,
                                             settings.jwt_expiration_seconds)
    config.set_security_policy(MinimartSecurityPolicy())
    config.add_request_method(_account, "account", reify=True)
    config.add_request_method(_actor, "actor", reify=True)


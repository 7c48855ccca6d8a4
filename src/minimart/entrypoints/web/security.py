"""One Pyramid 2 security policy: identity from the bearer token, permissions from roles.

pyramid-jwt is used only as the token codec; its legacy authentication policy cannot sit
beside a Pyramid 2 security policy. The algorithm is pinned; a token whose account has
since been deleted or disabled identifies nobody.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from typing import Any

from pyramid.config import Configurator
from pyramid.events import NewResponse
from pyramid.request import Request
from pyramid.security import Allowed, Denied
from pyramid.session import JSONSerializer, SignedCookieSessionFactory
from pyramid_jwt import create_jwt_authentication_policy

from minimart.domain.accounts import Account
from minimart.domain.actors import ROLE_PERMISSIONS, Actor
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
        A token without `exp` is refused: PyJWT checks `exp` only when present, and such a
        token (signed with a leaked or reused secret) would work until the password changes.
        """
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        claims = self._jwt.jwt_decode(request, token.strip())
        if "exp" not in claims:
            return None
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


SESSION_KEY = "minimart.account"
SESSION_SECONDS = 12 * 3600


def remember_in_session(request: Request, account: Account) -> None:
    """Sign a browser in (HTML pages): a fresh session, so no fixation, with an id of its
    own that signing out ends on the server."""
    request.session.invalidate()
    request.session[SESSION_KEY] = [account.id, account.token_generation, new_id()]
    request.session.new_csrf_token()


def forget_session(request: Request) -> None:
    """Sign the browser out: the sign-in ends for every copy of the cookie, not only this."""
    stored = _signed_in(request)
    if stored is not None:
        request.services.accounts.sign_out(stored[2], timedelta(seconds=SESSION_SECONDS))
    request.session.invalidate()


def _signed_in(request: Request) -> tuple[str, int, str] | None:
    """The account id, token generation and sign-in id the session cookie holds."""
    if "session" not in request.__dict__ and request.cookies.get(SESSION_COOKIE) is None:
        return None  # no cookie: do not make a session just to find nobody in it
    stored = request.session.get(SESSION_KEY)
    if isinstance(stored, list) and len(stored) == 3 and all(
            isinstance(part, kind) for part, kind in zip(stored, (str, int, str), strict=True)):
        return stored[0], stored[1], stored[2]
    return None


def _account(request: Request) -> Account | None:
    """The API authenticates only from the bearer token, never from a cookie; the HTML pages
    only from the session cookie."""
    if request.path.startswith("/api/"):
        claims = request.registry.token_codec.claims(request)
        if claims is None:
            return None
        account = request.services.accounts.find_active(*claims)
    else:
        stored = _signed_in(request)
        if stored is None:
            return None
        account = request.services.accounts.find_signed_in(*stored)
    request.authenticated_account_id = account and account.id
    return account


def _actor(request: Request) -> Actor:
    account = request.account
    request_id = getattr(request, "request_id", None)
    if account is None:
        return Actor.anonymous(request_id)
    return Actor(account_id=account.id, role=account.role, request_id=request_id)


SESSION_COOKIE = "minimart_session"


def no_store_when_signed_in(event: NewResponse) -> None:
    """A page for a signed-in browser (orders, the admin) is theirs alone: no browser or
    shared cache keeps it for the back button on a shared computer. Read from the cookie,
    not the database: this runs after the request's transaction has ended."""
    request, response = event.request, event.response
    path = request.environ.get("SCRIPT_NAME", "") + request.environ.get("PATH_INFO", "")
    if path.startswith("/api/"):
        return  # the API never reads the cookie (security_headers covers bearer answers)
    page = response.content_type == "text/html" or 300 <= response.status_int < 400
    if page and _signed_in(request) is not None:  # stylesheets and pictures stay cacheable
        response.headers["Cache-Control"] = "no-store"


def includeme(config: Configurator) -> None:
    settings = config.registry.container.settings
    session_secret = hmac.new(settings.jwt_secret.encode(), b"minimart html session",
                              hashlib.sha256).hexdigest()
    config.set_session_factory(SignedCookieSessionFactory(
        session_secret, cookie_name=SESSION_COOKIE, httponly=True, samesite="Lax",
        secure=settings.is_production, max_age=SESSION_SECONDS, timeout=SESSION_SECONDS,
        reissue_time=600, serializer=JSONSerializer()))
    config.registry.token_codec = TokenCodec(config, settings.jwt_secret,
                                             settings.jwt_expiration_seconds)
    config.set_security_policy(MinimartSecurityPolicy())
    config.add_request_method(_account, "account", reify=True)
    config.add_request_method(_actor, "actor", reify=True)
    config.add_subscriber(no_store_when_signed_in, NewResponse)


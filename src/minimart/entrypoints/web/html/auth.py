"""Signing in, signing up and signing out of the web pages: the same accounts, password
rules and sign-in throttling as the API, remembered in the session cookie."""

from __future__ import annotations

import unicodedata
from typing import Any
from urllib.parse import quote

from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPSeeOther
from pyramid.request import Request

from minimart.domain.accounts import Account
from minimart.domain.errors import DomainError
from minimart.entrypoints.schemas.accounts import Credentials, Registration
from minimart.entrypoints.web.html.forms import (
    Form,
    invalid,
    omitted_if_blank,
    read_form,
    refuse,
    secret,
    text,
)
from minimart.entrypoints.web.security import forget_session, remember_in_session

T = "minimart.entrypoints.web.html:templates/"
LOGIN_FIELDS = {"email": text, "password": secret, "otp": omitted_if_blank}
REGISTER_FIELDS = {"name": text, "email": text, "password": secret}


# What a redirect target keeps as it is: the URL syntax and escapes already made.
_URL_SAFE = "/?#[]@!$&'()*+,;=:%-._~"


def safe_next(value: str) -> str | None:
    """A path on this site to go back to after signing in; anything else (another host,
    `//evil.example`, a control character) is ignored. Every other character is sent
    percent-encoded as UTF-8: a Location header carries Latin-1 only, so `/。` failed to
    encode (a 500 after the sign-in or the fulfilment had committed) and Latin-1 letters
    went out raw."""
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return None
    if any(ord(c) < 0x21 or 0x7F <= ord(c) < 0xA0 for c in value):
        return None
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Zs") for c in value):
        return None  # invisible or spacing characters have no place in a path
    return quote(value, safe=_URL_SAFE)


def _landing(request: Request, account: Account) -> str:
    wanted = safe_next(str(request.params.get("next", "")))
    if wanted:
        return wanted
    return request.route_path("html.admin.home" if account.is_staff else "html.home")


def _sign_in(request: Request, account: Account, message: str) -> HTTPSeeOther:
    remember_in_session(request, account)
    request.session.flash(message)
    return HTTPSeeOther(_landing(request, account))


def login_form(request: Request) -> dict[str, Any]:
    return {"form": Form(values=dict.fromkeys(LOGIN_FIELDS, "")),
            "next": safe_next(str(request.params.get("next", ""))) or ""}


def login(request: Request) -> Any:
    data, form = read_form(request.POST, LOGIN_FIELDS, Credentials())
    if data is None:
        invalid(request)
    else:
        try:
            account = request.services.accounts.authenticate(
                data["email"], data["password"], client=request.remote_addr,
                otp=data.get("otp"))
        except DomainError as error:
            refuse(request, form, error, {"otp_required": "otp", "otp_used": "otp"})
        else:
            return _sign_in(request, account, f"Welcome back, {account.name}.")
    return {"form": form, "next": safe_next(str(request.POST.get("next", ""))) or ""}


def register_form(request: Request) -> dict[str, Any]:
    return {"form": Form(values=dict.fromkeys(REGISTER_FIELDS, ""))}


def register(request: Request) -> Any:
    data, form = read_form(request.POST, REGISTER_FIELDS, Registration())
    if data is None:
        invalid(request)
    else:
        try:
            account = request.services.accounts.register(
                data["email"], data["password"], data["name"], request.actor,
                client=request.remote_addr)
        except DomainError as error:
            refuse(request, form, error, {"email_taken": "email"})
        else:
            return _sign_in(request, account, f"Welcome, {account.name}: your account is ready.")
    return {"form": form}


def logout(request: Request) -> HTTPSeeOther:
    forget_session(request)
    return HTTPSeeOther(request.route_path("html.home"))


def includeme(config: Configurator) -> None:
    config.add_route("html.login", "/login")
    config.add_route("html.logout", "/logout")
    config.add_route("html.register", "/register")
    config.add_view(login_form, route_name="html.login", request_method="GET",
                    renderer=T + "login.jinja2")
    config.add_view(login, route_name="html.login", request_method="POST",
                    require_csrf=True, renderer=T + "login.jinja2")
    config.add_view(register_form, route_name="html.register", request_method="GET",
                    renderer=T + "register.jinja2")
    config.add_view(register, route_name="html.register", request_method="POST",
                    require_csrf=True, renderer=T + "register.jinja2")
    config.add_view(logout, route_name="html.logout", request_method="POST",
                    require_csrf=True)

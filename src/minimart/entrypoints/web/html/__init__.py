"""The HTML entrypoint: the storefront, signing in, and the owner's admin pages, over the
same services as the REST API.

Jinja2 templates, autoescaped (and strict about undefined names, so a typo fails a test
rather than rendering blank); CSS and images are served from this package, so the pages work
offline. Identity comes from the session cookie (see web.security); every form that changes
something carries Pyramid's CSRF token, checked per view (the JSON API uses bearer tokens and
needs none).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import StrictUndefined
from pyramid.config import Configurator
from pyramid.csrf import get_csrf_token
from pyramid.events import BeforeRender
from pyramid.request import Request

from minimart.entrypoints.web.html.money import format_amount, format_money
from minimart.entrypoints.web.security import SESSION_COOKIE

PACKAGE = "minimart.entrypoints.web.html"


def _has_session(request: Request) -> bool:
    """Whether the visitor has a session already; reading flashes must not start one."""
    return "session" in request.__dict__ or SESSION_COOKIE in request.cookies


def _flashes(request: Request) -> list[str]:
    return [str(m) for m in request.session.pop_flash()] if _has_session(request) else []


def _clock_in(zone: ZoneInfo) -> Callable[[datetime], str]:
    def when(moment: datetime) -> str:
        return f"{moment.astimezone(zone):%Y-%m-%d %H:%M}"

    return when


def _page_globals(event: BeforeRender) -> None:
    """What every page's layout shows: the store's name, its clock, and one-off messages."""
    if not str(event.get("renderer_name", "")).endswith(".jinja2"):
        return
    request: Request = event["request"]
    store = request.services.store.current()
    event.setdefault("store", store)
    event.setdefault("when", _clock_in(ZoneInfo(store.time_zone)))
    event.setdefault("flashes", _flashes(request))


def _configure_templates(config: Configurator) -> Callable[[], None]:
    def configure() -> None:
        env: Any = config.get_jinja2_environment()
        env.autoescape = True
        env.undefined = StrictUndefined
        env.filters["money"] = format_money
        env.filters["amount"] = format_amount
        env.globals["csrf_token"] = get_csrf_token

    return configure


def includeme(config: Configurator) -> None:
    config.include("pyramid_jinja2")
    config.add_jinja2_search_path(f"{PACKAGE}:templates")
    config.action(None, _configure_templates(config), order=10)
    config.add_static_view("static", f"{PACKAGE}:static", cache_max_age=3600)
    config.add_subscriber(_page_globals, BeforeRender)
    config.include(".storefront")
    config.include(".auth")
    config.include(".admin")

"""Browse traffic is what grows first: public catalog answers carry an ETag and a short
Cache-Control, and answer 304 to If-None-Match, so nginx or a CDN can absorb them."""

from __future__ import annotations

from pyramid.config import Configurator
from pyramid.events import NewResponse

CACHEABLE_ROUTES = frozenset({"api.items.list", "api.items.detail", "api.categories.list",
                              "api.categories.detail", "api.store"})
SHARED_MAX_AGE = 30


def make_cacheable(event: NewResponse) -> None:
    request, response = event.request, event.response
    route = request.matched_route.name if request.matched_route else None
    if route not in CACHEABLE_ROUTES or request.method not in ("GET", "HEAD") or \
            response.status_int != 200:
        return
    if response.etag is None:
        response.md5_etag()
    response.conditional_response = True
    response.vary = ("Authorization",)
    if "Authorization" in request.headers:
        response.cache_control = "private, no-cache"  # staff may see archived items
    else:
        response.cache_control = f"public, max-age={SHARED_MAX_AGE}"


def includeme(config: Configurator) -> None:
    config.add_subscriber(make_cacheable, NewResponse)

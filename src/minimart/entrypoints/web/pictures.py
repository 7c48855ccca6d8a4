"""The item pictures as served: GET /images/{key} and its narrower copies
GET /images/{width}/{key} (width 400 or 800), and the URLs that name them.

Below both the REST API (an item's `image_url`) and the pages (an <img>'s `srcset`), so
neither imports the other for them. Uploads are API operations (api/item_images.py).
"""

from __future__ import annotations

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response

from minimart.domain.catalog import Item
from minimart.domain.images import VARIANT_WIDTHS

ONE_YEAR = 365 * 24 * 3600
FULL_WIDTH = 1600  # the srcset descriptor of the full picture: its edge is at most this


def image_url(request: Request, item: Item) -> str | None:
    if item.image_key is None:
        return None
    return request.route_url("images.show", key=item.image_key)


def picture_urls(request: Request, item: Item) -> dict[str, str] | None:
    """`src` and `srcset` for an <img> of the item's picture, or None without one."""
    if item.image_key is None:
        return None
    key = item.image_key
    sizes = [f"{request.route_path('images.variant', width=w, key=key)} {w}w"
             for w in VARIANT_WIDTHS]
    full = request.route_path("images.show", key=key)
    return {"src": full, "srcset": ", ".join([*sizes, f"{full} {FULL_WIDTH}w"])}


def show_image(request: Request) -> Response:
    """Content-addressed, so a name never changes its bytes: cache it for a year."""
    width = request.matchdict.get("width")
    picture = request.services.catalog.image(request.matchdict["key"],
                                             int(width) if width is not None else None)
    response = Response(body=picture.data, content_type=picture.content_type,
                        conditional_response=True)
    response.etag = request.matchdict["key"] if width is None else \
        f"{width}-{request.matchdict['key']}"
    response.cache_control = f"public, max-age={ONE_YEAR}, immutable"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def includeme(config: Configurator) -> None:
    config.add_route("images.show", "/images/{key}")
    config.add_route("images.variant", "/images/{width:[0-9]{1,4}}/{key}")
    config.add_view(show_image, route_name="images.show", request_method="GET")
    config.add_view(show_image, route_name="images.variant", request_method="GET")

"""Item pictures: PUT/DELETE /api/v1/items/{id}/image (staff), GET /images/{key} and its
narrower copies GET /images/{width}/{key} (width 400 or 800).

An upload is a raw body (any image/* type) or multipart/form-data with a file field named
`image`; either way the content decides what it is, not the declared type or file name.
The item's JSON keeps only `image_url` (API.md names the item's fields); the copies are
for the pages' `srcset`, and any client may build the same paths from `image_url`.
"""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response

from minimart.domain.actors import Permission
from minimart.domain.catalog import Item
from minimart.domain.images import VARIANT_WIDTHS, megabytes
from minimart.entrypoints.web.api.items import with_etag
from minimart.entrypoints.web.problems import HttpProblem

ONE_YEAR = 365 * 24 * 3600
FULL_WIDTH = 1600  # the srcset descriptor of the full picture: its edge is at most this


def picture_urls(request: Request, item: Item) -> dict[str, str] | None:
    """`src` and `srcset` for an <img> of the item's picture, or None without one."""
    if item.image_key is None:
        return None
    key = item.image_key
    sizes = [f"{request.route_path('images.variant', width=w, key=key)} {w}w"
             for w in VARIANT_WIDTHS]
    full = request.route_path("images.show", key=key)
    return {"src": full, "srcset": ", ".join([*sizes, f"{full} {FULL_WIDTH}w"])}


def _too_large(limit: int) -> HttpProblem:
    return HttpProblem(413, "payload_too_large", f"pictures are at most {megabytes(limit)}")


def _upload(request: Request) -> bytes:
    limit = request.registry.container.settings.image_max_bytes
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        raise _too_large(limit)
    if request.content_type == "multipart/form-data":
        try:
            field = request.POST.get("image")
        except ValueError as error:  # no boundary, or a body that does not follow it
            raise HttpProblem(400, "bad_request", "the multipart form cannot be read; send "
                              "it with a boundary, as browsers and curl -F do") from error
        if not hasattr(field, "file"):
            raise HttpProblem(422, "validation_failed", "no image in the form",
                              {"image": ["attach the picture as a file field named image"]})
        data = field.file.read(limit + 1)
    elif request.content_type.startswith("image/") or \
            request.content_type == "application/octet-stream":
        data = request.body_file.read(limit + 1)
    else:
        raise HttpProblem(415, "unsupported_media_type",
                          "send the picture as image/* or multipart/form-data")
    if len(data) > limit:
        raise _too_large(limit)
    return data


def put_image(request: Request) -> dict[str, Any]:
    item = request.services.catalog.set_image(request.matchdict["id"], _upload(request),
                                              request.actor)
    return with_etag(request, item)


def delete_image(request: Request) -> Response:
    request.services.catalog.remove_image(request.matchdict["id"], request.actor)
    return Response(status=204, content_type=None)


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
    config.add_route("api.items.image", "/api/v1/items/{id}/image")
    config.add_route("images.show", "/images/{key}")
    config.add_route("images.variant", "/images/{width:[0-9]{1,4}}/{key}")
    write = Permission.CATALOG_WRITE.value
    config.add_view(put_image, route_name="api.items.image", request_method="PUT",
                    permission=write)
    config.add_view(delete_image, route_name="api.items.image", request_method="DELETE",
                    permission=write)
    config.add_view(show_image, route_name="images.show", request_method="GET")
    config.add_view(show_image, route_name="images.variant", request_method="GET")

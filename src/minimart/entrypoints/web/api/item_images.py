"""Item pictures: PUT/DELETE /api/v1/items/{id}/image (staff) and GET /images/{key}.

An upload is a raw body (any image/* type) or multipart/form-data with a file field named
`image`; either way the content decides what it is, not the declared type or file name.
"""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response

from minimart.domain.accounts import Permission
from minimart.entrypoints.web.api.items import with_etag
from minimart.entrypoints.web.problems import HttpProblem

ONE_YEAR = 365 * 24 * 3600


def _upload(request: Request) -> bytes:
    limit = request.registry.container.settings.image_max_bytes
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        raise HttpProblem(413, "payload_too_large", f"images are at most {limit} bytes")
    if request.content_type == "multipart/form-data":
        field = request.POST.get("image")
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
        raise HttpProblem(413, "payload_too_large", f"images are at most {limit} bytes")
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
    picture = request.services.catalog.image(request.matchdict["key"])
    response = Response(body=picture.data, content_type=picture.content_type,
                        conditional_response=True)
    response.etag = request.matchdict["key"]
    response.cache_control = f"public, max-age={ONE_YEAR}, immutable"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def includeme(config: Configurator) -> None:
    config.add_route("api.items.image", "/api/v1/items/{id}/image")
    config.add_route("images.show", "/images/{key}")
    write = Permission.CATALOG_WRITE.value
    config.add_view(put_image, route_name="api.items.image", request_method="PUT",
                    permission=write)
    config.add_view(delete_image, route_name="api.items.image", request_method="DELETE",
                    permission=write)
    config.add_view(show_image, route_name="images.show", request_method="GET")

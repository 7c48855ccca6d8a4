"""Item pictures: PUT/DELETE /api/v1/items/{id}/image (staff). The pictures themselves are
served by entrypoints/web/pictures.py.

An upload is a raw body (any image/* type) or multipart/form-data with a file field named
`image`; either way the content decides what it is, not the declared type or file name.
The item's JSON keeps only `image_url` (API.md names the item's fields); the narrower
copies are for the pages' `srcset`, and any client may build their paths from `image_url`.
"""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response

from minimart.domain.actors import Permission
from minimart.domain.errors import PreconditionFailed, ValidationFailed
from minimart.domain.images import ImageTooLarge, UnsupportedImage, megabytes
from minimart.entrypoints.web.api.items import ITEM, with_etag
from minimart.entrypoints.web.api.operation import NO_CONTENT, JsonSchema, Operations
from minimart.entrypoints.web.problems import (
    BadRequest,
    InvalidRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
)

api = Operations(tag="catalog")
IMAGE_BODY: dict[str, JsonSchema] = {
    **{kind: {"schema": {"type": "string", "contentMediaType": kind}}
       for kind in ("image/png", "image/jpeg", "image/webp")},
    "multipart/form-data": {"schema": {
        "type": "object", "required": ["image"],
        "properties": {"image": {"type": "string",
                                 "contentMediaType": "application/octet-stream"}}}}}


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"pictures are at most {megabytes(limit)}")


def _upload(request: Request) -> bytes:
    limit = request.registry.container.settings.image_max_bytes
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        raise _too_large(limit)
    if request.content_type == "multipart/form-data":
        try:
            field = request.POST.get("image")
        except ValueError as error:  # no boundary, or a body that does not follow it
            raise BadRequest("the multipart form cannot be read; send it with a boundary, "
                             "as browsers and curl -F do") from error
        if not hasattr(field, "file"):
            raise InvalidRequest("no image in the form",
                                 {"image": ["attach the picture as a file field named image"]})
        data = field.file.read(limit + 1)
    elif request.content_type.startswith("image/") or \
            request.content_type == "application/octet-stream":
        data = request.body_file.read(limit + 1)
    else:
        raise UnsupportedMediaType("send the picture as image/* or multipart/form-data")
    if len(data) > limit:
        raise _too_large(limit)
    return data


@api.operation("PUT", "/items/{id}/image", route="api.items.image",
               operation_id="putItemImage",
               summary="Set the item's picture (PNG, JPEG or WebP, judged by content)",
               answers=(ITEM,), permission=Permission.CATALOG_WRITE, raw_body=IMAGE_BODY,
               errors=(BadRequest, PreconditionFailed, ImageTooLarge, UnsupportedMediaType,
                       UnsupportedImage, InvalidRequest, ValidationFailed))
def put_image(request: Request) -> dict[str, Any]:
    item = request.services.catalog.set_image(request.matchdict["id"], _upload(request),
                                              request.actor)
    return with_etag(request, item)


@api.operation("DELETE", "/items/{id}/image", route="api.items.image",
               operation_id="deleteItemImage", summary="Remove the item's picture",
               answers=(NO_CONTENT,), permission=Permission.CATALOG_WRITE,
               errors=(PreconditionFailed,))
def delete_image(request: Request) -> Response:
    request.services.catalog.remove_image(request.matchdict["id"], request.actor)
    return Response(status=204, content_type=None)


def includeme(config: Configurator) -> None:
    api.register(config)

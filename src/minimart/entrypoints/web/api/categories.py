"""/api/v1/categories: the menu's sections, public to read, staff to change."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response

from minimart.domain.actors import Permission
from minimart.domain.errors import NameTaken
from minimart.entrypoints.schemas.common import AtLeastOneField
from minimart.entrypoints.web.api.body import json_body
from minimart.entrypoints.web.api.operation import (
    IF_NONE_MATCH,
    NO_CONTENT,
    NOT_MODIFIED,
    Answer,
    Operations,
)
from minimart.entrypoints.web.api.shapes import ident, page_of, text, whole

api = Operations(tag="catalog")
WRITE = Permission.CATALOG_WRITE
POSITION = validate.Range(min=0, max=1_000_000)


class CategorySchema(Schema):
    id = ident()
    name = text()
    description = text()
    position = fields.Integer(required=True)
    item_count = whole(0)


class CategoryCreate(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    description = fields.String(validate=validate.Length(max=2000))
    position = fields.Integer(strict=True, validate=POSITION)


class CategoryPatch(AtLeastOneField):
    name = fields.String(validate=validate.Length(min=1, max=120))
    description = fields.String(validate=validate.Length(max=2000))
    position = fields.Integer(strict=True, validate=POSITION)


category_schema = CategorySchema()


@api.operation("GET", "/categories", route="api.categories.list",
               operation_id="listCategories", summary="The menu's sections in order",
               answers=(Answer(200, page_of(CategorySchema), "every category", ("ETag",)),
                        NOT_MODIFIED),
               headers=(IF_NONE_MATCH,))
def list_categories(request: Request) -> dict[str, Any]:
    return {"data": category_schema.dump(request.services.categories.list_categories(),
                                         many=True), "next_cursor": None}


@api.operation("GET", "/categories/{id}", route="api.categories.detail",
               operation_id="getCategory", summary="One category",
               answers=(Answer(200, CategorySchema, "the category", ("ETag",)), NOT_MODIFIED),
               headers=(IF_NONE_MATCH,))
def get_category(request: Request) -> dict[str, Any]:
    return category_schema.dump(
        request.services.categories.get_category(request.matchdict["id"]))


@api.operation("POST", "/categories", route="api.categories.list",
               operation_id="createCategory", summary="Add a category",
               answers=(Answer(201, CategorySchema, "the new category", ("Location",)),),
               permission=WRITE, body=CategoryCreate, errors=(NameTaken,))
def create_category(request: Request) -> dict[str, Any]:
    data = json_body(request, CategoryCreate())
    category = request.services.categories.create_category(
        data["name"], request.actor, description=data.get("description", ""),
        position=data.get("position"))
    request.response.status_int = 201
    request.response.location = request.route_url("api.categories.detail", id=category.id)
    return category_schema.dump(category)


@api.operation("PATCH", "/categories/{id}", route="api.categories.detail",
               operation_id="updateCategory", summary="Change a category",
               answers=(Answer(200, CategorySchema, "the category"),), permission=WRITE,
               body=CategoryPatch, errors=(NameTaken,))
def update_category(request: Request) -> dict[str, Any]:
    changes = json_body(request, CategoryPatch())
    return category_schema.dump(request.services.categories.update_category(
        request.matchdict["id"], changes, request.actor))


@api.operation("DELETE", "/categories/{id}", route="api.categories.detail",
               operation_id="deleteCategory",
               summary="Delete a category; its items stay, uncategorised",
               answers=(NO_CONTENT,), permission=WRITE)
def delete_category(request: Request) -> Response:
    request.services.categories.delete_category(request.matchdict["id"], request.actor)
    return Response(status=204, content_type=None)


def includeme(config: Configurator) -> None:
    api.register(config)

"""/api/v1/categories: the menu's sections, public to read, staff to change."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response

from minimart.domain.actors import Permission
from minimart.entrypoints.web.api.body import json_body

POSITION = validate.Range(min=0, max=1_000_000)


class CategorySchema(Schema):
    id = fields.String()
    name = fields.String()
    description = fields.String()
    position = fields.Integer()
    item_count = fields.Integer()


class CategoryCreate(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    description = fields.String(validate=validate.Length(max=2000))
    position = fields.Integer(strict=True, validate=POSITION)


class CategoryPatch(Schema):
    name = fields.String(validate=validate.Length(min=1, max=120))
    description = fields.String(validate=validate.Length(max=2000))
    position = fields.Integer(strict=True, validate=POSITION)

    @validates_schema
    def not_empty(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise ValidationError("name at least one field to change", "_schema")


category_schema = CategorySchema()


def list_categories(request: Request) -> dict[str, Any]:
    return {"data": category_schema.dump(request.services.categories.list_categories(),
                                         many=True), "next_cursor": None}


def get_category(request: Request) -> dict[str, Any]:
    return category_schema.dump(
        request.services.categories.get_category(request.matchdict["id"]))


def create_category(request: Request) -> dict[str, Any]:
    data = json_body(request, CategoryCreate())
    category = request.services.categories.create_category(
        data["name"], request.actor, description=data.get("description", ""),
        position=data.get("position"))
    request.response.status_int = 201
    request.response.location = request.route_url("api.categories.detail", id=category.id)
    return category_schema.dump(category)


def update_category(request: Request) -> dict[str, Any]:
    changes = json_body(request, CategoryPatch())
    return category_schema.dump(request.services.categories.update_category(
        request.matchdict["id"], changes, request.actor))


def delete_category(request: Request) -> Response:
    request.services.categories.delete_category(request.matchdict["id"], request.actor)
    return Response(status=204, content_type=None)


def includeme(config: Configurator) -> None:
    config.add_route("api.categories.list", "/categories")
    config.add_route("api.categories.detail", "/categories/{id}")
    write = Permission.CATALOG_WRITE.value
    config.add_view(list_categories, route_name="api.categories.list", request_method="GET")
    config.add_view(create_category, route_name="api.categories.list", request_method="POST",
                    permission=write)
    config.add_view(get_category, route_name="api.categories.detail", request_method="GET")
    config.add_view(update_category, route_name="api.categories.detail",
                    request_method="PATCH", permission=write)
    config.add_view(delete_category, route_name="api.categories.detail",
                    request_method="DELETE", permission=write)

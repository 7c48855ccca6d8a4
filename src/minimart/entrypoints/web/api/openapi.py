"""GET /api/v1/openapi.json: the OpenAPI 3.1 document, collected from the operations the
resource modules declare beside their views (operation.py).

apispec's MarshmallowPlugin converts every marshmallow schema an operation names (its
body, its query, its answers), so the document says what the views load and answer; the
error answers and their codes come from the one error table (problems.py). The tests
hold the document against Pyramid's route table both ways and real answers against it.
"""

from __future__ import annotations

import copy
import re
from functools import cache
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin, OpenAPIConverter
from apispec.ext.marshmallow.common import resolve_schema_instance
from marshmallow import INCLUDE, Schema, fields, validate
from pyramid.config import Configurator
from pyramid.request import Request

from minimart.domain.actors import Role
from minimart.entrypoints.schemas.common import AtLeastOneField
from minimart.entrypoints.web.api import RESOURCES
from minimart.entrypoints.web.api.operation import Answer, JsonSchema, Operation, Operations
from minimart.entrypoints.web.api.shapes import ErrorSchema, text
from minimart.entrypoints.web.problems import STATUSES, Kind, status_of

OPENAPI_VERSION = "3.1.0"
ALL_ROLES = tuple(role.value for role in Role)
STRING = {"type": "string"}
HEADERS: dict[str, JsonSchema] = {
    "RequestId": {"description": "the caller's X-Request-ID when it is sane, else a new one",
                  "required": True, "schema": STRING},
    "Location": {"description": "the URL of the created resource", "schema": STRING},
    "ETag": {"description": "the representation's version, for If-Match (items) and "
                            "If-None-Match", "schema": STRING},
    "WWWAuthenticate": {"required": True, "schema": {"type": "string", "pattern": "^Bearer"}},
    "RetryAfter": {"description": "seconds to wait", "required": True,
                   "schema": {"type": "integer", "minimum": 1}},
}
_HEADER_NAMES = {"RequestId": "X-Request-ID", "Location": "Location", "ETag": "ETag",
                 "WWWAuthenticate": "WWW-Authenticate", "RetryAfter": "Retry-After"}
_ERROR_HEADERS = {401: ("WWWAuthenticate",), 429: ("RetryAfter",)}
_PYTHON_ANCHOR = re.compile(r"(?<!\\)((?:\\\\)*)\\([AZ])")


class Converter(OpenAPIConverter):
    """apispec's converter, taught what these schemas use and it does not read (each a
    fix, not a converter of our own): PATCH schemas' at-least-one rule, Tuple and the
    keys of a Dict, NoneOf, and Python's regex anchors, which JSON Schema lacks."""

    def init_attribute_functions(self) -> None:
        super().init_attribute_functions()
        self.attribute_functions += [self.tuple2properties, self.dict_keys2properties,
                                     self.none_of2properties, self.pattern2ecma]

    def schema2jsonschema(self, schema: Any) -> JsonSchema:
        described: JsonSchema = super().schema2jsonschema(schema)
        if isinstance(resolve_schema_instance(schema), AtLeastOneField):
            described["minProperties"] = 1
        return described

    def tuple2properties(self, field: fields.Field, **_: Any) -> JsonSchema:
        if not isinstance(field, fields.Tuple):
            return {}
        members = [self.field2property(member) for member in field.tuple_fields]
        size = {"type": "array", "minItems": len(members), "maxItems": len(members)}
        if all(member == members[0] for member in members):
            return {**size, "items": members[0]}
        return {**size, "prefixItems": members}  # maxItems: nothing after them

    def dict_keys2properties(self, field: fields.Field, **_: Any) -> JsonSchema:
        if isinstance(field, fields.Dict) and field.key_field is not None:
            return {"propertyNames": self.field2property(field.key_field)}
        return {}

    def none_of2properties(self, field: fields.Field, **_: Any) -> JsonSchema:
        refused = [value for v in field.validators if isinstance(v, validate.NoneOf)
                   for value in v.iterable]
        return {"not": {"enum": refused}} if refused else {}

    def pattern2ecma(self, field: fields.Field, ret: JsonSchema) -> JsonSchema:
        """Python validators anchor with \\A and \\Z (`$` also matches before a trailing
        newline); ECMA-262 knows neither, and its `^` and `$` mean exactly those. Regexp
        validators match at the start (re.match); JSON Schema patterns search."""
        if "pattern" not in ret:
            return {}
        pattern = _PYTHON_ANCHOR.sub(
            lambda m: m.group(1) + ("^" if m.group(2) == "A" else "$"), ret["pattern"])
        return {"pattern": pattern if pattern.startswith("^") else f"^(?:{pattern})"}


class Plugin(MarshmallowPlugin):
    Converter = Converter


class OpenApiDocumentSchema(Schema):
    class Meta:
        unknown = INCLUDE

    openapi = text()
    paths = fields.Dict(required=True)


api = Operations(tag="operations")


def operations() -> list[Operation]:
    """Every operation of /api/v1, as the resource modules (and this one) declare them."""
    return [op for module in RESOURCES for op in module.api.declared] + api.declared


def _header_refs(*names: str) -> dict[str, JsonSchema]:
    return {_HEADER_NAMES[name]: {"$ref": f"#/components/headers/{name}"}
            for name in ("RequestId", *names)}


def _success(answer: Answer) -> JsonSchema:
    response: JsonSchema = {"description": answer.description,
                            "headers": _header_refs(*answer.headers)}
    if answer.schema is not None:
        response["content"] = {"application/json": {"schema": answer.schema}}
    return response


def _operation(op: Operation) -> JsonSchema:
    kinds = op.error_kinds()
    responses = {str(answer.status): _success(answer) for answer in op.answers}
    for status in sorted({status_of(kind) for kind in kinds}):
        responses[str(status)] = {"$ref": f"#/components/responses/{STATUSES[status].name}"}
    described: JsonSchema = {
        "operationId": op.operation_id, "summary": op.summary, "tags": [op.tag],
        "security": [] if op.roles is None else [{"bearerAuth": []}],
        "responses": responses, "x-error-codes": sorted({kind.code for kind in kinds}),
    }
    if op.permission is not None and op.roles is not None:
        roles = [role.value for role in op.roles]
        described.update({"x-permission": op.permission.value, "x-roles": roles,
                          "description": f"Roles: {', '.join(roles)}."})
    parameters: list[JsonSchema] = [
        {"name": name, "in": "path", "required": True,
         "schema": {"type": "string", "minLength": 1}}
        for name in re.findall(r"{(\w+)}", op.path)]
    if op.query is not None:
        parameters.append({"in": "query", "schema": op.query})
    parameters += [{"name": h.name, "in": "header", "required": h.required,
                    "description": h.description, "schema": h.schema} for h in op.headers]
    if parameters:
        described["parameters"] = parameters
    if op.body is not None:
        described["requestBody"] = {"required": op.body_required, "content": {
            "application/json": {"schema": op.body}}}
    elif op.raw_body is not None:
        described["requestBody"] = {"required": True, "content": dict(op.raw_body)}
    return described


def _error_responses(kinds: list[Kind]) -> dict[str, JsonSchema]:
    """One response per error status any operation answers, naming the codes it carries."""
    codes: dict[int, set[str]] = {}
    for kind in kinds:
        codes.setdefault(status_of(kind), set()).add(kind.code)
    return {STATUSES[status].name: {
        "description": STATUSES[status].description + ": "
                       + ", ".join(f"`{code}`" for code in sorted(codes[status])),
        "headers": _header_refs(*_ERROR_HEADERS.get(status, ())),
        "content": {"application/json": {"schema": ErrorSchema}}}
        for status in sorted(codes)}


def openapi_document() -> JsonSchema:
    """The whole document, a copy the caller may change."""
    return copy.deepcopy(_document())


@cache
def _document() -> JsonSchema:
    """Built once: nothing in it changes while the app runs."""
    spec = APISpec(title="minimart", version="1", openapi_version=OPENAPI_VERSION,
                   plugins=[Plugin()], info={"description": (
                       "An online store and ordering backend. Money is an integer count of "
                       "the currency's minor unit; ids are opaque strings; lists are "
                       "keyset-paginated with `limit` and `cursor`.")})
    spec.components.security_scheme("bearerAuth", {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "the access_token from POST /api/v1/auth/token"})
    for name, header in HEADERS.items():
        spec.components.header(name, header)
    spec.components.schema("Error", schema=ErrorSchema)
    everything = operations()
    for name, response in _error_responses(
            [kind for op in everything for kind in op.error_kinds()]).items():
        spec.components.response(name, response)
    paths: dict[str, dict[str, JsonSchema]] = {}
    for op in everything:
        paths.setdefault(op.pattern, {})[op.method.lower()] = _operation(op)
    for path, described in paths.items():
        spec.path(path=path, operations=described)
    document: JsonSchema = spec.to_dict()
    return document


@api.operation("GET", "/openapi.json", route="api.openapi", operation_id="getOpenApi",
               summary="This document",
               answers=(Answer(200, OpenApiDocumentSchema, "the OpenAPI 3.1 document"),),
               database=False)
def openapi_view(request: Request) -> JsonSchema:
    return _document()


def includeme(config: Configurator) -> None:
    api.register(config)

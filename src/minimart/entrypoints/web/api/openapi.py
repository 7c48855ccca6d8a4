"""GET /api/v1/openapi.json: the OpenAPI 3.1 document of the REST API.

Request bodies and query parameters are derived from the marshmallow schemas the views
load them with, so the document cannot drift from what the views accept; response bodies
are components written here, and the tests check real responses against them. The list of
operations is checked against Pyramid's route table by the tests, both ways.
"""

from __future__ import annotations

import copy
import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from marshmallow import RAISE, Schema, fields, missing, validate
from pyramid.config import Configurator
from pyramid.request import Request

from minimart.domain.actors import ROLE_PERMISSIONS, Permission, Role
from minimart.domain.orders import FulfilmentType, OrderStatus
from minimart.domain.payments import PaymentStatus
from minimart.entrypoints.web.api import (
    accounts,
    audit,
    categories,
    items,
    orders,
    payments,
    store,
)

JsonSchema = dict[str, Any]

OPENAPI_VERSION = "3.1.0"
API_PREFIX = "/api/v1"
ALL_ROLES = tuple(role.value for role in Role)


# --- marshmallow → JSON Schema ---------------------------------------------------------

class UnsupportedField(TypeError):
    """A field or validator the converter cannot describe: teach it rather than guess."""


def schema_to_json(schema: Schema | type[Schema]) -> JsonSchema:
    """The JSON Schema of what `schema.load` accepts: an object with its fields, the
    required ones, and no others unless the schema lets unknown fields in."""
    instance = schema() if isinstance(schema, type) else schema
    properties: dict[str, JsonSchema] = {}
    required: list[str] = []
    for name, item in instance.load_fields.items():
        key = item.data_key or name
        properties[key] = field_to_json(item)
        if item.required:
            required.append(key)
    result: JsonSchema = {"type": "object", "properties": properties}
    if required:
        result["required"] = required
    if instance.unknown == RAISE:
        result["additionalProperties"] = False
    return result


def field_to_json(item: fields.Field) -> JsonSchema:
    result = _field_type(item)
    for validator in _flatten(item.validators):
        result.update(_validator_to_json(validator, result.get("type")))
    if item.allow_none:
        result = _nullable(result)
    description = item.metadata.get("description")
    if description:
        result["description"] = description
    return result


def _field_type(item: fields.Field) -> JsonSchema:
    # Order matters: subclasses (Email, Integer, AwareDateTime …) before their bases.
    if isinstance(item, fields.Email):
        return {"type": "string", "format": "email"}
    if isinstance(item, fields.DateTime):
        return {"type": "string", "format": "date-time"}
    if isinstance(item, fields.String):
        return {"type": "string"}
    if isinstance(item, fields.Integer):
        return {"type": "integer"}
    if isinstance(item, fields.Boolean):
        return {"type": "boolean"}
    if isinstance(item, fields.Enum):
        return _enum_to_json(item)
    if isinstance(item, fields.Nested):
        nested = schema_to_json(item.schema)
        return {"type": "array", "items": nested} if item.many else nested
    if isinstance(item, fields.List):
        return {"type": "array", "items": field_to_json(item.inner)}
    if isinstance(item, fields.Tuple):
        members = [field_to_json(member) for member in item.tuple_fields]
        if all(member == members[0] for member in members):  # the simpler, common form
            return {"type": "array", "items": members[0],
                    "minItems": len(members), "maxItems": len(members)}
        return {"type": "array", "prefixItems": members, "items": False,
                "minItems": len(members), "maxItems": len(members)}
    if isinstance(item, fields.Dict):
        result: JsonSchema = {"type": "object"}
        if item.key_field is not None:
            result["propertyNames"] = field_to_json(item.key_field)
        if item.value_field is not None:
            result["additionalProperties"] = field_to_json(item.value_field)
        return result
    raise UnsupportedField(f"no JSON Schema for {type(item).__name__} fields")


def _enum_to_json(item: fields.Enum) -> JsonSchema:
    members = list(item.enum)
    if item.by_value is True:
        values = [member.value for member in members]
    elif item.by_value is False:
        values = [member.name for member in members]
    else:
        raise UnsupportedField("no JSON Schema for Enum fields loaded through another field")
    kinds = {type(value) for value in values}
    if kinds == {str}:
        return {"type": "string", "enum": values}
    if kinds == {int}:
        return {"type": "integer", "enum": values}
    return {"enum": values}


def _flatten(validators: list[Any]) -> list[Any]:
    flat: list[Any] = []
    for validator in validators:
        if isinstance(validator, validate.And):
            flat.extend(_flatten(list(validator.validators)))
        else:
            flat.append(validator)
    return flat


_LENGTH_KEYS = {"string": ("minLength", "maxLength"), "array": ("minItems", "maxItems"),
                "object": ("minProperties", "maxProperties")}


def _validator_to_json(validator: Any, kind: str | None) -> JsonSchema:
    if isinstance(validator, validate.Length):
        low_key, high_key = _LENGTH_KEYS.get(kind or "", ("minLength", "maxLength"))
        if validator.equal is not None:
            return {low_key: validator.equal, high_key: validator.equal}
        bounds: JsonSchema = {}
        if validator.min is not None:
            bounds[low_key] = validator.min
        if validator.max is not None:
            bounds[high_key] = validator.max
        return bounds
    if isinstance(validator, validate.Range):
        bounds = {}
        if validator.min is not None:
            bounds["minimum" if validator.min_inclusive else "exclusiveMinimum"] = validator.min
        if validator.max is not None:
            bounds["maximum" if validator.max_inclusive else "exclusiveMaximum"] = validator.max
        return bounds
    if isinstance(validator, validate.OneOf):
        return {"enum": list(validator.choices)}
    if isinstance(validator, validate.NoneOf):
        return {"not": {"enum": list(validator.iterable)}}
    if isinstance(validator, validate.Regexp):
        return {"pattern": _ecma_pattern(validator.regex)}
    if isinstance(validator, validate.Email):
        return {"format": "email"}
    if isinstance(validator, validate.URL):
        return {"format": "uri"}
    if isinstance(validator, validate.Validator):
        raise UnsupportedField(f"no JSON Schema for the {type(validator).__name__} validator")
    return {}  # a plain function: the document is laxer than the view, never stricter


_PYTHON_ANCHOR = re.compile(r"(?<!\\)((?:\\\\)*)\\([AZ])")


def _ecma_pattern(regex: re.Pattern[str]) -> str:
    """The validator's pattern as JSON Schema (ECMA-262) reads it.

    Python validators anchor with \\A and \\Z, since `$` also matches before a trailing
    newline; JavaScript knows neither escape, and its `^` and `$` (without the m flag)
    mean exactly those. Regexp validators match at the start (re.match); JSON Schema
    patterns search.
    """
    pattern = _PYTHON_ANCHOR.sub(lambda m: m.group(1) + ("^" if m.group(2) == "A" else "$"),
                                 regex.pattern)
    return pattern if pattern.startswith("^") else f"^(?:{pattern})"


def _nullable(schema: JsonSchema) -> JsonSchema:
    kind = schema.get("type")
    if isinstance(kind, str):
        result = {**schema, "type": [kind, "null"]}
        if "enum" in result:
            result["enum"] = [*result["enum"], None]
        return result
    return {"anyOf": [schema, {"type": "null"}]}


def query_parameters(schema: type[Schema]) -> list[JsonSchema]:
    """Each field of a query schema as a query parameter, with its bounds and default."""
    parameters = []
    for name, item in schema().load_fields.items():
        described = field_to_json(item)
        default = item.load_default
        if default is not missing and default is not None and not callable(default):
            described["default"] = default.value if isinstance(default, enum.Enum) else default
        parameters.append({"name": item.data_key or name, "in": "query",
                           "required": item.required, "schema": described})
    return parameters


# --- response components ----------------------------------------------------------------

def _ref(name: str) -> JsonSchema:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, JsonSchema], *, optional: tuple[str, ...] = ()) -> JsonSchema:
    """A response object: every property present unless optional, nothing else."""
    return {"type": "object", "properties": properties,
            "required": [name for name in properties if name not in optional],
            "additionalProperties": False}


def _page(item: str) -> JsonSchema:
    return _object({"data": {"type": "array", "items": _ref(item)},
                    "next_cursor": {"type": ["string", "null"]}})


STRING = {"type": "string"}
ID = {"type": "string", "minLength": 1}
NULLABLE_STRING = {"type": ["string", "null"]}
TIMESTAMP = {"type": "string", "format": "date-time"}
AMOUNT = {"type": "integer", "minimum": 0}
CURRENCY = {"type": "string", "pattern": "^[a-z]{3}$"}
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

RESPONSE_SCHEMAS: dict[str, JsonSchema] = {
    "Error": _object({"error": _object({
        "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
        "message": STRING,
        "details": {"type": "object",
                    "description": "each bad field mapped to its messages, or the "
                                   "conflict's particulars"}})}),
    "Account": _object({"id": ID, "email": STRING, "name": STRING,
                        "role": {"type": "string", "enum": list(ALL_ROLES)},
                        "created_at": TIMESTAMP}),
    "Token": _object({"access_token": STRING,
                      "token_type": {"type": "string", "enum": ["Bearer"]},
                      "expires_in": {"type": "integer", "minimum": 1}}),
    "TotpEnrolment": _object({"otpauth_uri": {"type": "string", "pattern": "^otpauth://"},
                              "recovery_codes": {"type": "array", "items": STRING}}),
    "Item": _object({
        "id": ID, "sku": NULLABLE_STRING, "name": STRING, "description": STRING,
        "price": AMOUNT, "currency": CURRENCY, "stock": {"type": "integer", "minimum": 0},
        "available": {"type": "boolean"}, "featured": {"type": "boolean"},
        "archived": {"type": "boolean"}, "category_id": NULLABLE_STRING,
        "image_url": NULLABLE_STRING, "created_at": TIMESTAMP, "updated_at": TIMESTAMP}),
    "ItemPage": _page("Item"),
    "Category": _object({"id": ID, "name": STRING, "description": STRING,
                         "position": {"type": "integer"},
                         "item_count": {"type": "integer", "minimum": 0}}),
    "CategoryPage": _page("Category"),
    "Store": _object({
        "name": STRING, "currency": CURRENCY, "tax_rate_bps": {"type": "integer", "minimum": 0},
        "delivery_fee": AMOUNT, "minimum_order": AMOUNT, "open": {"type": "boolean"},
        "open_now": {"type": "boolean", "description": "`open` and inside today's hours in "
                                                       "the store's time zone"},
        "opening_hours": {
            "type": "object", "propertyNames": {"enum": WEEKDAYS},
            "additionalProperties": {"type": "array", "items": {
                "type": "array", "items": STRING, "minItems": 2, "maxItems": 2,
                "description": "[opening, closing] as HH:MM; a closing at or before the "
                               "opening runs past midnight; intervals never overlap"}}},
        "time_zone": STRING}),
    "OrderLine": _object({"item_id": ID, "sku": NULLABLE_STRING, "name": STRING,
                          "unit_price": AMOUNT, "quantity": {"type": "integer", "minimum": 1},
                          "line_total": AMOUNT}),
    "Order": _object({
        "id": ID, "status": {"type": "string", "enum": [s.value for s in OrderStatus]},
        "lines": {"type": "array", "items": _ref("OrderLine"), "minItems": 1},
        "subtotal": AMOUNT, "tax": AMOUNT, "delivery_fee": AMOUNT, "tip": AMOUNT,
        "total": AMOUNT, "currency": CURRENCY,
        "fulfilment": _object({"type": {"type": "string",
                                        "enum": [t.value for t in FulfilmentType]},
                               "address": STRING}, optional=("address",)),
        "note": NULLABLE_STRING, "customer_id": NULLABLE_STRING,
        "created_at": TIMESTAMP, "updated_at": TIMESTAMP,
        "payment": _object({
            "provider": STRING, "payment_intent_id": NULLABLE_STRING,
            "client_secret": {"type": ["string", "null"],
                              "description": "shown only to the order's customer"},
            "status": {"type": "string", "enum": [s.value for s in PaymentStatus]},
            "captured": AMOUNT, "refunded": AMOUNT})}),
    "OrderPage": _page("Order"),
    "AuditEvent": _object({
        "id": ID, "at": TIMESTAMP, "actor_id": NULLABLE_STRING, "action": STRING,
        "entity_type": STRING, "entity_id": STRING,
        "changes": {"type": "object", "additionalProperties": {
            "type": "array", "minItems": 2, "maxItems": 2,
            "description": "[old, new]"}},
        "request_id": NULLABLE_STRING}),
    "AuditEventPage": _page("AuditEvent"),
    "EphemeralKey": {"type": "object", "required": ["id", "secret"],
                     "properties": {"id": STRING, "secret": STRING},
                     "description": "Stripe's ephemeral key object, as Stripe answers it"},
    "WebhookReceipt": _object({"received": {"const": True}, "id": STRING}),
    "OpenApiDocument": {"type": "object", "required": ["openapi", "paths"]},
}

HEADERS: dict[str, JsonSchema] = {
    "RequestId": {"description": "the caller's X-Request-ID when it is sane, else a new one",
                  "required": True, "schema": STRING},
    "Location": {"description": "the URL of the created resource", "schema": STRING},
    "ETag": {"description": "the representation's version, for If-Match (items) and "
                            "If-None-Match",
             "schema": STRING},
    "WWWAuthenticate": {"required": True, "schema": {"type": "string", "pattern": "^Bearer"}},
    "RetryAfter": {"description": "seconds to wait", "required": True,
                   "schema": {"type": "integer", "minimum": 1}},
}

ERRORS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "the body or query cannot be read: `malformed_json`, `bad_request`"),
    401: ("Unauthenticated", "no valid bearer token, or wrong credentials: "
                             "`unauthenticated`, `invalid_credentials`, `otp_required`, "
                             "`otp_used`"),
    402: ("PaymentDeclined", "the card was declined and nothing is reserved: "
                             "`payment_declined`"),
    403: ("Forbidden", "the role lacks the permission: `forbidden`, "
                       "`totp_enrolment_required`"),
    404: ("NotFound", "no such resource, or one the caller may not see: `not_found`"),
    409: ("Conflict", "conflicts with the current state: `insufficient_stock`, "
                      "`email_taken`, `sku_taken`, `name_taken`, `invalid_state`, "
                      "`store_closed`, "
                      "`below_minimum_order`, `amount_mismatch`, `too_many_pending_orders`, "
                      "`too_many_pending_units`"),
    412: ("PreconditionFailed", "If-Match names a version that is no longer current, or "
                                "the resource changed meanwhile: `precondition_failed`"),
    413: ("PayloadTooLarge", "the body (or a picture's pixel count) is over the limit: "
                             "`payload_too_large`"),
    415: ("UnsupportedMediaType", "the body is not of a type this operation reads: "
                                  "`unsupported_media_type`"),
    422: ("ValidationFailed", "`details` maps each bad field to its messages: "
                              "`validation_failed`, `idempotency_key_reused`, "
                              "`invalid_payment_method`"),
    429: ("RateLimited", "too many failed sign-ins, or registrations from one address: "
                         "`rate_limited`, see Retry-After"),
    503: ("Unavailable", "a dependency is down, or every password-hashing slot stayed busy; "
                         "nothing was changed and retrying is safe: `unavailable`, "
                         "`payment_provider_unavailable`"),
}


def _header_refs(*names: str) -> dict[str, JsonSchema]:
    return {name: {"$ref": f"#/components/headers/{key}"} for name, key in
            [("X-Request-ID", "RequestId"), *[(_HEADER_NAMES[n], n) for n in names]]}


_HEADER_NAMES = {"Location": "Location", "ETag": "ETag",
                 "WWWAuthenticate": "WWW-Authenticate", "RetryAfter": "Retry-After"}


def _error_responses() -> dict[str, JsonSchema]:
    responses = {}
    for status, (name, description) in ERRORS.items():
        extra = {401: ("WWWAuthenticate",), 429: ("RetryAfter",)}.get(status, ())
        responses[name] = {"description": description, "headers": _header_refs(*extra),
                           "content": {"application/json": {"schema": _ref("Error")}}}
    return responses


# --- operations -------------------------------------------------------------------------

@dataclass(frozen=True)
class Body:
    """A JSON request body, kept as a named component."""

    name: str
    schema: JsonSchema


def body(schema: type[Schema], *, at_least_one: bool = False) -> Body:
    """The body a marshmallow schema loads; `at_least_one` for PATCH schemas that refuse
    an empty body in a schema-level validator (which the converter cannot read)."""
    described = schema_to_json(schema)
    if at_least_one:
        described["minProperties"] = 1
    return Body(schema.__name__, described)


@dataclass(frozen=True)
class Success:
    status: int
    schema: str | None = None  # a component name; None: no body
    description: str = "done"
    headers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    success: tuple[Success, ...]
    permission: Permission | None = None  # None: public
    body: Body | None = None
    body_required: bool = True
    query: list[JsonSchema] = field(default_factory=list)
    headers: list[JsonSchema] = field(default_factory=list)
    errors: tuple[int, ...] = ()  # beyond those the shape of the operation implies
    raw_body: Mapping[str, JsonSchema] | None = None  # non-JSON bodies by media type
    database: bool = True

    @property
    def roles(self) -> tuple[str, ...] | None:
        """The roles whose permissions include the operation's, from the domain's map."""
        if self.permission is None:
            return None
        return tuple(role.value for role in Role if self.permission in ROLE_PERMISSIONS[role])

    def parameters(self) -> list[JsonSchema]:
        path_params = [{"name": name, "in": "path", "required": True,
                        "schema": {"type": "string", "minLength": 1}}
                       for name in re.findall(r"{(\w+)}", self.path)]
        return [*path_params, *self.query, *self.headers]

    def error_statuses(self) -> set[int]:
        # any URL whose path or query is not UTF-8 or holds a NUL is refused with 400
        statuses = {400, *self.errors}
        if self.body is not None:
            statuses |= {400, 413, 415, 422}
        if self.raw_body is not None:
            statuses.add(413)
        if self.roles is not None:
            statuses.add(401)
            if set(self.roles) != set(ALL_ROLES):
                statuses.add(403)
        if "{" in self.path:
            statuses.add(404)
        if self.query:
            statuses.add(422)
        if self.database:
            statuses.add(503)
        return statuses


def _header(name: str, description: str, schema: JsonSchema, *,
            required: bool = False) -> JsonSchema:
    return {"name": name, "in": "header", "required": required, "description": description,
            "schema": schema}


IDEMPOTENCY_KEY = _header("Idempotency-Key", "the same key and body answer the same order",
                          {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"})
IF_MATCH = _header("If-Match", "the ETag the change is based on; a stale one answers 412",
                   STRING)
IF_NONE_MATCH = _header("If-None-Match", "an ETag the caller holds; a current one answers 304",
                        STRING)
STRIPE_SIGNATURE = _header("Stripe-Signature", "Stripe's signature of the raw body",
                           STRING, required=True)
IMAGE_BODY = {"image/png": {"schema": {"type": "string", "contentMediaType": "image/png"}},
              "image/jpeg": {"schema": {"type": "string", "contentMediaType": "image/jpeg"}},
              "image/webp": {"schema": {"type": "string", "contentMediaType": "image/webp"}},
              "multipart/form-data": {"schema": {
                  "type": "object", "required": ["image"],
                  "properties": {"image": {"type": "string",
                                           "contentMediaType": "application/octet-stream"}}}}}
ITEM = Success(200, "Item", "the item", ("ETag",))
ORDER = Success(200, "Order", "the order")
NO_CONTENT = Success(204, None, "done; no content")
NOT_MODIFIED = Success(304, None, "the caller's copy (If-None-Match) is current", ("ETag",))


def operations() -> list[Operation]:
    """Every operation of /api/v1; the tests hold this list against the route table."""
    p = API_PREFIX
    own, place = Permission.VIEW_OWN_ACCOUNT, Permission.PLACE_ORDERS
    write, second_factor = Permission.CATALOG_WRITE, Permission.SECOND_FACTOR
    return [
        # accounts and sign-in
        Operation("post", f"{p}/accounts", "registerAccount", "Register a customer account",
                  "accounts", (Success(201, "Account", "the new account", ("Location",)),),
                  body=body(accounts.Registration), errors=(409, 429)),
        Operation("get", f"{p}/accounts/me", "getOwnAccount", "The signed-in account",
                  "accounts", (Success(200, "Account", "the account"),), permission=own),
        Operation("post", f"{p}/accounts/me/password", "changePassword",
                  "Change one's password; every earlier token stops working", "accounts",
                  (NO_CONTENT,), permission=own, body=body(accounts.PasswordChange)),
        Operation("post", f"{p}/auth/token", "issueToken",
                  "Sign in for a bearer token (with `otp` when two-factor sign-in is on)",
                  "accounts", (Success(200, "Token", "a bearer token"),),
                  body=body(accounts.Credentials), errors=(401, 403, 429)),
        Operation("post", f"{p}/auth/totp", "startTotp", "Start two-factor sign-in",
                  "accounts", (Success(201, "TotpEnrolment", "the secret's URI and the "
                                                             "recovery codes, shown this once"),),
                  permission=second_factor, body=body(accounts.TotpStart)),
        Operation("post", f"{p}/auth/totp/confirm", "confirmTotp",
                  "Confirm two-factor sign-in with a first code", "accounts", (NO_CONTENT,),
                  permission=second_factor, body=body(accounts.TotpConfirm)),
        # catalog
        Operation("get", f"{p}/items", "listItems", "Browse the catalog", "catalog",
                  (Success(200, "ItemPage", "a page of items", ("ETag",)), NOT_MODIFIED),
                  query=query_parameters(items.ItemListQuery), headers=[IF_NONE_MATCH]),
        Operation("post", f"{p}/items", "createItem", "Add an item", "catalog",
                  (Success(201, "Item", "the new item", ("Location", "ETag")),),
                  permission=write, body=body(items.ItemCreate), errors=(409,)),
        Operation("get", f"{p}/items/{{id}}", "getItem", "One item", "catalog",
                  (ITEM, NOT_MODIFIED), headers=[IF_NONE_MATCH]),
        Operation("patch", f"{p}/items/{{id}}", "updateItem", "Change an item", "catalog",
                  (ITEM,), permission=write, body=body(items.ItemPatch, at_least_one=True),
                  headers=[IF_MATCH], errors=(409, 412)),
        Operation("delete", f"{p}/items/{{id}}", "archiveItem",
                  "Archive an item (repeating it is harmless)", "catalog", (NO_CONTENT,),
                  permission=write),
        Operation("post", f"{p}/items/{{id}}/stock-adjustments", "adjustStock",
                  "Add or remove stock", "catalog",
                  (Success(201, "Item", "the item", ("ETag",)),),
                  permission=write, body=body(items.StockAdjustment), errors=(409,)),
        Operation("put", f"{p}/items/{{id}}/image", "putItemImage",
                  "Set the item's picture (PNG, JPEG or WebP, judged by content)", "catalog",
                  (ITEM,), permission=write, raw_body=IMAGE_BODY, errors=(412, 415, 422)),
        Operation("delete", f"{p}/items/{{id}}/image", "deleteItemImage",
                  "Remove the item's picture", "catalog", (NO_CONTENT,), permission=write,
                  errors=(412,)),
        Operation("get", f"{p}/categories", "listCategories", "The menu's sections in order",
                  "catalog", (Success(200, "CategoryPage", "every category", ("ETag",)),
                              NOT_MODIFIED), headers=[IF_NONE_MATCH]),
        Operation("post", f"{p}/categories", "createCategory", "Add a category", "catalog",
                  (Success(201, "Category", "the new category", ("Location",)),),
                  permission=write, body=body(categories.CategoryCreate), errors=(409,)),
        Operation("get", f"{p}/categories/{{id}}", "getCategory", "One category", "catalog",
                  (Success(200, "Category", "the category", ("ETag",)), NOT_MODIFIED),
                  headers=[IF_NONE_MATCH]),
        Operation("patch", f"{p}/categories/{{id}}", "updateCategory", "Change a category",
                  "catalog", (Success(200, "Category", "the category"),), permission=write,
                  body=body(categories.CategoryPatch, at_least_one=True), errors=(409,)),
        Operation("delete", f"{p}/categories/{{id}}", "deleteCategory",
                  "Delete a category; its items stay, uncategorised", "catalog",
                  (NO_CONTENT,), permission=write),
        # store
        Operation("get", f"{p}/store", "getStore", "The store's name, rates and hours",
                  "store", (Success(200, "Store", "the store", ("ETag",)), NOT_MODIFIED),
                  headers=[IF_NONE_MATCH]),
        Operation("patch", f"{p}/store", "updateStore", "Change the store's settings",
                  "store", (Success(200, "Store", "the store"),),
                  permission=Permission.STORE_MANAGE,
                  body=body(store.StorePatch, at_least_one=True)),
        # orders
        Operation("post", f"{p}/orders", "placeOrder", "Place an order", "orders",
                  (Success(201, "Order", "the new order", ("Location",)),
                   Success(200, "Order", "the order this Idempotency-Key placed before",
                           ("Location",))),
                  permission=place, body=body(orders.OrderIn), headers=[IDEMPOTENCY_KEY],
                  errors=(402, 409)),
        Operation("get", f"{p}/orders", "listOrders",
                  "Own orders, newest first (staff and admin: all)", "orders",
                  (Success(200, "OrderPage", "a page of orders"),), permission=place,
                  query=query_parameters(orders.OrderListQuery)),
        Operation("get", f"{p}/orders/{{id}}", "getOrder", "One order", "orders", (ORDER,),
                  permission=place),
        Operation("post", f"{p}/orders/{{id}}/cancel", "cancelOrder",
                  "Cancel an order (a paid one is refunded)", "orders", (ORDER,),
                  permission=place, errors=(409,)),
        Operation("post", f"{p}/orders/{{id}}/fulfil", "fulfilOrder",
                  "Mark a paid order fulfilled", "orders", (ORDER,),
                  permission=Permission.ORDERS_MANAGE, errors=(409,)),
        Operation("post", f"{p}/orders/{{id}}/refund", "refundOrder",
                  "Refund part or the rest of a paid or fulfilled order's payment (all of "
                  "it refunds the order)", "orders", (ORDER,),
                  permission=Permission.REFUNDS, body=body(orders.RefundIn),
                  body_required=False, errors=(409,)),
        # payments
        Operation("post", f"{p}/payments/ephemeral-keys", "createEphemeralKey",
                  "A Stripe ephemeral key for the mobile SDKs", "payments",
                  (Success(201, "EphemeralKey", "Stripe's ephemeral key object"),),
                  permission=place, body=body(payments.EphemeralKeyIn)),
        Operation("post", f"{p}/payments/stripe/webhook", "stripeWebhook",
                  "Stripe's event notifications, verified by signature", "payments",
                  (Success(200, "WebhookReceipt", "the event was taken in"),),
                  raw_body={"application/json": {"schema": {"type": "object"}}},
                  headers=[STRIPE_SIGNATURE], errors=(400,)),
        # audit and this document
        Operation("get", f"{p}/audit-events", "listAuditEvents",
                  "Who changed what, newest first", "audit",
                  (Success(200, "AuditEventPage", "a page of audit events"),),
                  permission=Permission.AUDIT_READ,
                  query=query_parameters(audit.AuditListQuery)),
        Operation("get", f"{p}/openapi.json", "getOpenApi", "This document", "operations",
                  (Success(200, "OpenApiDocument", "the OpenAPI 3.1 document"),),
                  database=False),
    ]


def _operation_json(op: Operation) -> JsonSchema:
    responses: dict[str, JsonSchema] = {}
    for success in op.success:
        response: JsonSchema = {"description": success.description,
                                "headers": _header_refs(*success.headers)}
        if success.schema is not None:
            response["content"] = {"application/json": {"schema": _ref(success.schema)}}
        responses[str(success.status)] = response
    for status in sorted(op.error_statuses()):
        responses[str(status)] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
    described: JsonSchema = {
        "operationId": op.operation_id, "summary": op.summary, "tags": [op.tag],
        "security": [] if op.roles is None else [{"bearerAuth": []}],
        "responses": responses,
    }
    if op.permission is not None and op.roles is not None:
        described["x-permission"] = op.permission.value
        described["x-roles"] = list(op.roles)
        described["description"] = f"Roles: {', '.join(op.roles)}."
    if op.parameters():
        described["parameters"] = op.parameters()
    if op.body is not None:
        described["requestBody"] = {"required": op.body_required, "content": {
            "application/json": {"schema": _ref(op.body.name)}}}
    elif op.raw_body is not None:
        described["requestBody"] = {"required": True, "content": dict(op.raw_body)}
    return described


def openapi_document() -> JsonSchema:
    """The whole document, a copy the caller may change."""
    return copy.deepcopy(_document())


@cache
def _document() -> JsonSchema:
    """Built once: nothing in it changes while the app runs."""
    paths: dict[str, JsonSchema] = {}
    request_schemas: dict[str, JsonSchema] = {}
    for op in operations():
        paths.setdefault(op.path, {})[op.method] = _operation_json(op)
        if op.body is None:
            continue
        known = request_schemas.setdefault(op.body.name, op.body.schema)
        if op.body.name in RESPONSE_SCHEMAS or known != op.body.schema:
            raise ValueError(f"two different schemas are named {op.body.name}")
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "minimart", "version": "1",
                 "description": "An online store and ordering backend. Money is an integer "
                                "count of the currency's minor unit; ids are opaque strings; "
                                "lists are keyset-paginated with `limit` and `cursor`."},
        "paths": paths,
        "components": {
            "schemas": {**RESPONSE_SCHEMAS, **request_schemas},
            "responses": _error_responses(),
            "headers": HEADERS,
            "securitySchemes": {"bearerAuth": {
                "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "the access_token from POST /api/v1/auth/token"}},
        },
    }


def openapi_view(request: Request) -> JsonSchema:
    return _document()


def includeme(config: Configurator) -> None:
    config.add_route("api.openapi", "/openapi.json")
    config.add_view(openapi_view, route_name="api.openapi", request_method="GET",
                    renderer="json")

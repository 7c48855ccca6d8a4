"""GET /api/v1/openapi.json: a valid OpenAPI 3.1 document that matches the running app.

The route table and the document are held against each other both ways, and real answers
of the app are validated against the response schemas the document gives them (error
answers: their code too, against the codes the operation declares).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from apispec import APISpec
from marshmallow import Schema, fields, validate
from openapi_spec_validator import OpenAPIV31SpecValidator
from openapi_spec_validator import validate as validate_spec
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from minimart.domain.catalog import MAX_PRICE
from minimart.entrypoints.web.api import openapi

PREFIX = "/api/v1"
ITEMS = f"{PREFIX}/items"
METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
DOC_URI = "urn:minimart:openapi"


@pytest.fixture
def document() -> dict[str, Any]:
    return openapi.openapi_document()


# --- the document itself -----------------------------------------------------------------

def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1.")
    validate_spec(document, cls=OpenAPIV31SpecValidator)


def test_the_document_is_served_publicly_as_json(testapp, document):
    response = testapp.get(f"{PREFIX}/openapi.json")
    assert response.content_type == "application/json"
    assert response.json == json.loads(json.dumps(document))


def test_the_route_is_named_api_openapi(app):
    routes = {r["name"]: "/" + r["pattern"].lstrip("/")
              for r in (i["introspectable"] for i in
                        app.registry.introspector.get_category("routes"))}
    assert routes["api.openapi"] == f"{PREFIX}/openapi.json"


def test_operation_ids_are_unique(document):
    ids = [op["operationId"] for item in document["paths"].values()
           for method, op in item.items() if method in METHODS]
    assert len(ids) == len(set(ids))


def test_the_error_envelope_is_one_shared_component(document):
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    inner = resolved(document, error["properties"]["error"])
    assert set(inner["required"]) == {"code", "message", "details"}
    for response in document["components"]["responses"].values():
        assert response["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"}


def test_bearer_jwt_is_the_security_scheme_and_public_operations_need_none(document):
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "the access_token from POST /api/v1/auth/token"}
    assert operation(document, "/items", "get")["security"] == []
    assert operation(document, "/items", "post")["security"] == [{"bearerAuth": []}]
    assert operation(document, "/audit-events", "get")["x-roles"] == ["admin"]


def test_every_secured_operation_documents_401_and_every_operation_a_success(document):
    for path, method, op in operations_of(document):
        responses = op["responses"]
        assert any(status.startswith("2") for status in responses), (path, method)
        if op["security"]:
            assert "401" in responses, (path, method)


def test_every_body_operation_documents_the_body_failures(document):
    for path, method, op in operations_of(document):
        if "application/json" in op.get("requestBody", {}).get("content", {}) \
                and path != f"{PREFIX}/payments/stripe/webhook":
            assert {"400", "413", "415", "422"} <= set(op["responses"]), (path, method)


# --- derived from the marshmallow schemas ------------------------------------------------

def test_request_bodies_come_from_the_views_marshmallow_schemas(document):
    schemas = document["components"]["schemas"]
    create = schemas["ItemCreate"]
    assert create["additionalProperties"] is False
    assert set(create["required"]) == {"name", "price"}
    assert create["properties"]["price"] == {"type": "integer", "minimum": 0,
                                             "maximum": MAX_PRICE}
    assert create["properties"]["name"] == {"type": "string", "minLength": 1, "maxLength": 120}
    assert create["properties"]["sku"]["pattern"].startswith("^")
    assert schemas["ItemPatch"]["minProperties"] == 1
    lines = schemas["OrderIn"]["properties"]["lines"]
    assert (lines["minItems"], lines["maxItems"]) == (1, 100)
    line = resolved(document, lines["items"])
    assert line["properties"]["quantity"] == {"type": "integer", "minimum": 1, "maximum": 1000}
    assert line["additionalProperties"] is False
    assert schemas["Registration"]["properties"]["email"]["format"] == "email"


def test_sign_in_accepts_an_optional_second_factor(document):
    credentials = document["components"]["schemas"]["Credentials"]
    assert credentials["properties"]["otp"]["type"] == "string"
    assert "otp" not in credentials["required"]
    token = operation(document, "/auth/token", "post")["responses"]
    assert token["429"] == {"$ref": "#/components/responses/RateLimited"}
    rate_limited = document["components"]["responses"]["RateLimited"]
    assert rate_limited["headers"]["Retry-After"] == {"$ref": "#/components/headers/RetryAfter"}


def test_query_parameters_carry_their_bounds_and_defaults(document):
    params = {p["name"]: p["schema"] for p in operation(document, "/items", "get")["parameters"]}
    assert params["limit"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}
    assert params["sort"]["enum"] == ["name", "-name", "price", "-price", "created", "-created"]
    assert params["sort"]["default"] == "name"
    assert params["min_price"] == {"type": "integer", "minimum": 0, "maximum": MAX_PRICE}
    audit = {p["name"]: p["schema"]
             for p in operation(document, "/audit-events", "get")["parameters"]}
    assert {"entity_type", "entity_id", "actor_id", "limit", "cursor"} <= set(audit)
    assert (audit["limit"]["minimum"], audit["limit"]["maximum"]) == (1, 100)


class Everything(Schema):
    name = fields.String(required=True, validate=validate.Length(min=2, max=5))
    size = fields.Integer(validate=validate.Range(min=0, max=9))
    kind = fields.String(validate=validate.OneOf(["a", "b"]), allow_none=True)
    code = fields.String(validate=validate.Regexp(r"[A-Z]+"))
    anchored = fields.String(validate=validate.Regexp(r"\A[a-z]+\Z"))
    tags = fields.List(fields.String(), validate=validate.Length(max=3))
    pair = fields.Tuple((fields.Integer(), fields.Boolean()))
    span = fields.Tuple((fields.String(), fields.String()))
    extra = fields.Dict(keys=fields.String(validate=validate.OneOf(["x"])),
                        values=fields.Integer())
    delta = fields.Integer(validate=validate.NoneOf([0]))
    when = fields.DateTime(data_key="at")


def converted(schema: type[Schema]) -> dict[str, Any]:
    """A schema as the document's apispec plugin (and its fixes) describes it."""
    spec = APISpec(title="t", version="1", openapi_version=openapi.OPENAPI_VERSION,
                   plugins=[openapi.Plugin()])
    spec.components.schema("Subject", schema=schema)
    return spec.to_dict()["components"]["schemas"]["Subject"]


def test_apispec_and_its_fixes_map_fields_and_validators_to_json_schema():
    assert converted(Everything) == {
        "type": "object", "required": ["name"], "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "minLength": 2, "maxLength": 5},
            "size": {"type": "integer", "minimum": 0, "maximum": 9},
            "kind": {"type": ["string", "null"], "enum": ["a", "b", None]},
            "code": {"type": "string", "pattern": "^(?:[A-Z]+)"},
            "anchored": {"type": "string", "pattern": "^[a-z]+$"},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
            "pair": {"type": "array", "prefixItems": [{"type": "integer"},
                                                      {"type": "boolean"}],
                     "minItems": 2, "maxItems": 2},
            "span": {"type": "array", "items": {"type": "string"}, "minItems": 2,
                     "maxItems": 2},
            "extra": {"type": "object",
                      "propertyNames": {"type": "string", "enum": ["x"]},
                      "additionalProperties": {"type": "integer"}},
            "delta": {"type": "integer", "not": {"enum": [0]}},
            "at": {"type": "string", "format": "date-time"},
        }}


def test_a_change_schema_needs_at_least_one_field(document):
    patches = [name for name, schema in document["components"]["schemas"].items()
               if schema.get("minProperties") == 1]
    assert sorted(patches) == ["CategoryPatch", "ItemPatch", "ProfilePatch", "StorePatch"]


# Validators and fields the document's converter reads; anything else would leave the
# document laxer than the view (an exclusive Range, an And, a Predicate …).
READ_VALIDATORS = (validate.Length, validate.OneOf, validate.NoneOf, validate.Regexp,
                   validate.Equal, validate.Email)  # Email: an Email field's `format`


def declared_schemas() -> Iterator[Schema]:
    """Every marshmallow schema an operation names, and those they nest, each once."""
    seen: set[type[Schema]] = set()
    stack = [schema for op in openapi.operations()
             for schema in (op.body, op.query, *(a.schema for a in op.answers)) if schema]
    while stack:
        schema = stack.pop()
        if schema in seen:
            continue
        seen.add(schema)
        yield schema()
        stack += [inner.nested for inner in _fields_of(schema()) if
                  isinstance(inner, fields.Nested) and isinstance(inner.nested, type)]


def _fields_of(schema: Schema) -> Iterator[fields.Field]:
    stack: list[fields.Field] = list(schema.fields.values())
    while stack:
        field = stack.pop()
        yield field
        if isinstance(field, fields.List):
            stack.append(field.inner)
        elif isinstance(field, fields.Tuple):
            stack.extend(field.tuple_fields)
        elif isinstance(field, fields.Dict):
            stack.extend(f for f in (field.key_field, field.value_field) if f is not None)


def test_every_validator_the_operations_use_is_one_the_document_reads():
    for schema in declared_schemas():
        for field in _fields_of(schema):
            for validator in field.validators:
                where = f"{type(schema).__name__}: {validator!r}"
                if isinstance(validator, validate.Range):
                    assert validator.min_inclusive and validator.max_inclusive, where
                else:
                    assert isinstance(validator, READ_VALIDATORS), where


# --- the document against the route table ------------------------------------------------

def routed_operations(app: Any) -> set[tuple[str, str]]:
    """(pattern, method) for every view of every /api/v1 route, from the introspector."""
    introspector = app.registry.introspector
    patterns = {spec["name"]: "/" + spec["pattern"].lstrip("/") for spec in
                (entry["introspectable"] for entry in introspector.get_category("routes"))}
    patterns = {name: path for name, path in patterns.items() if path.startswith(PREFIX + "/")}
    found: set[tuple[str, str]] = set()
    for entry in introspector.get_category("views"):
        view = entry["introspectable"]
        if view["route_name"] not in patterns:
            continue
        methods = view["request_methods"]
        assert methods, f"the view of {view['route_name']} answers any method"
        methods = {methods} if isinstance(methods, str) else set(methods)
        if "GET" in methods:
            methods.discard("HEAD")  # Pyramid adds HEAD to GET views
        found |= {(patterns[view["route_name"]], method.lower()) for method in methods}
    return found


def documented_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, method) for path, method, _ in operations_of(document)
            if path.startswith(PREFIX + "/")}


def test_every_routed_api_operation_is_documented(app, document):
    assert (f"{ITEMS}/{{id}}", "patch") in routed_operations(app)  # the helper sees routes
    missing = routed_operations(app) - documented_operations(document)
    assert not missing, f"routed but not in openapi.json: {sorted(missing)}"


def test_the_document_lists_nothing_that_is_not_routed(app, document):
    phantom = documented_operations(document) - routed_operations(app)
    assert not phantom, f"in openapi.json but not routed: {sorted(phantom)}"


def routed_permissions(app: Any) -> dict[tuple[str, str], str | None]:
    """(pattern, method) -> the permission its view requires (None: public)."""
    introspector = app.registry.introspector
    patterns = {entry["introspectable"]["name"]:
                "/" + entry["introspectable"]["pattern"].lstrip("/")
                for entry in introspector.get_category("routes")}
    found: dict[tuple[str, str], str | None] = {}
    for entry in introspector.get_category("views"):
        view = entry["introspectable"]
        path = patterns.get(view["route_name"], "")
        if not path.startswith(PREFIX + "/"):
            continue
        permissions = [related.discriminator for related in entry["related"]
                       if related.category_name == "permissions"]
        methods = view["request_methods"]
        for method in {methods} if isinstance(methods, str) else set(methods) - {"HEAD"}:
            found[path, method.lower()] = permissions[0] if permissions else None
    return found


def test_each_operation_documents_the_permission_and_security_its_view_requires(app,
                                                                                document):
    for (path, method), permission in routed_permissions(app).items():
        op = document["paths"][path][method]
        assert op.get("x-permission") == permission, (path, method)
        assert op["security"] == ([{"bearerAuth": []}] if permission else []), (path, method)
        if permission:
            assert "401" in op["responses"], (path, method)


def test_roles_come_from_the_domains_permission_map(document):
    assert operation(document, "/auth/totp", "post")["x-roles"] == ["staff", "admin"]
    assert "403" in operation(document, "/auth/totp", "post")["responses"]
    assert operation(document, "/orders", "post")["x-roles"] == ["customer", "staff", "admin"]
    assert "403" not in operation(document, "/orders", "post")["responses"]


def test_the_document_has_only_api_paths(document):
    assert all(path.startswith(PREFIX + "/") for path in document["paths"])


# --- real answers against the documented responses ----------------------------------------

class Responses:
    """Validates real responses against the schema and headers the document gives them."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self.registry = Registry().with_resource(DOC_URI, resource)

    def check(self, path: str, method: str, response: Any) -> None:
        op = self.document["paths"][path][method]
        status = str(response.status_int)
        assert status in op["responses"], f"{method} {path} answered undocumented {status}"
        described = self._resolve(op["responses"][status])
        for name, header in described.get("headers", {}).items():
            header = self._resolve(header)
            if header.get("required"):
                assert name in response.headers, f"{name} missing from {status}"
        content = described.get("content")
        if content is None:
            assert not response.body, f"{status} is documented without a body"
            return
        assert response.content_type in content
        pointer = "/".join(["#/paths", path.replace("/", "~1"), method, "responses", status])
        if "$ref" in op["responses"][status]:
            pointer = op["responses"][status]["$ref"]
        schema = {"$ref": f"{DOC_URI}{pointer}/content/"
                          f"{response.content_type.replace('/', '~1')}/schema"}
        validator = jsonschema.Draft202012Validator(
            schema, registry=self.registry,
            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(
            response.json)]
        assert not errors, f"{method} {path} {status}: {errors}"
        if response.status_int >= 400:
            code = response.json["error"]["code"]
            assert code in op["x-error-codes"], f"{method} {path} answered undeclared {code}"

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            target: Any = self.document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node


@pytest.fixture
def responses(document: dict[str, Any]) -> Responses:
    return Responses(document)


@pytest.fixture
def shop(testapp: Any, auth: Any) -> Iterator[dict[str, Any]]:
    staff = auth("staff")
    category = testapp.post_json(f"{PREFIX}/categories", {"name": "Drinks"},
                                 headers=staff).json
    item = testapp.post_json(ITEMS, {"name": "Tea ☕", "price": 250, "stock": 5,
                                     "sku": "TEA-1"}, headers=staff).json
    yield {"staff": staff, "item": item, "category": category}


def test_the_item_list_and_detail_answers_match_the_document(testapp, responses, shop):
    responses.check(ITEMS, "get", testapp.get(ITEMS))
    responses.check(ITEMS, "get", testapp.get(ITEMS, {"limit": 1, "sort": "-price"}))
    detail = testapp.get(f"{ITEMS}/{shop['item']['id']}")
    responses.check(f"{ITEMS}/{{id}}", "get", detail)
    not_modified = testapp.get(f"{ITEMS}/{shop['item']['id']}",
                               headers={"If-None-Match": detail.headers["ETag"]}, status=304)
    responses.check(f"{ITEMS}/{{id}}", "get", not_modified)


def test_catalog_writes_match_the_document(testapp, responses, shop):
    staff = shop["staff"]
    created = testapp.post_json(ITEMS, {"name": "Cake", "price": 0}, headers=staff)
    responses.check(ITEMS, "post", created)
    patched = testapp.patch_json(f"{ITEMS}/{created.json['id']}", {"stock": 2}, headers=staff)
    responses.check(f"{ITEMS}/{{id}}", "patch", patched)
    stale = testapp.patch_json(f"{ITEMS}/{created.json['id']}", {"stock": 3},
                               headers={**staff, "If-Match": created.headers["ETag"]},
                               status=412)
    responses.check(f"{ITEMS}/{{id}}", "patch", stale)
    adjusted = testapp.post_json(f"{ITEMS}/{created.json['id']}/stock-adjustments",
                                 {"delta": -1, "reason": "broken"}, headers=staff)
    responses.check(f"{ITEMS}/{{id}}/stock-adjustments", "post", adjusted)
    taken = testapp.post_json(ITEMS, {"name": "Tea", "price": 1, "sku": "TEA-1"},
                              headers=staff, status=409)
    responses.check(ITEMS, "post", taken)
    archived = testapp.delete(f"{ITEMS}/{created.json['id']}", headers=staff)
    responses.check(f"{ITEMS}/{{id}}", "delete", archived)
    responses.check(f"{PREFIX}/categories", "get", testapp.get(f"{PREFIX}/categories"))
    responses.check(f"{PREFIX}/store", "get", testapp.get(f"{PREFIX}/store"))


def test_order_placement_and_reading_match_the_document(testapp, responses, shop, auth):
    shopper = auth("customer")
    body = {"lines": [{"item_id": shop["item"]["id"], "quantity": 2}], "note": "<b>hi</b>"}
    placed = testapp.post_json(f"{PREFIX}/orders", body, headers=shopper)
    assert placed.status_int == 201
    responses.check(f"{PREFIX}/orders", "post", placed)
    order_id = placed.json["id"]
    responses.check(f"{PREFIX}/orders/{{id}}", "get",
                    testapp.get(f"{PREFIX}/orders/{order_id}", headers=shopper))
    responses.check(f"{PREFIX}/orders", "get", testapp.get(f"{PREFIX}/orders", headers=shopper))
    too_many = {"lines": [{"item_id": shop["item"]["id"], "quantity": 1000}]}
    responses.check(f"{PREFIX}/orders", "post",
                    testapp.post_json(f"{PREFIX}/orders", too_many, headers=shopper,
                                      status=409))
    responses.check(f"{PREFIX}/orders/{{id}}/cancel", "post",
                    testapp.post(f"{PREFIX}/orders/{order_id}/cancel", headers=shopper))


def test_account_answers_match_the_document(testapp, responses):
    registered = testapp.post_json(f"{PREFIX}/accounts", {
        "email": "new@example.com", "password": "long enough password", "name": "Ann"})
    responses.check(f"{PREFIX}/accounts", "post", registered)
    token = testapp.post_json(f"{PREFIX}/auth/token", {
        "email": "new@example.com", "password": "long enough password"})
    responses.check(f"{PREFIX}/auth/token", "post", token)
    me = testapp.get(f"{PREFIX}/accounts/me",
                     headers={"Authorization": f"Bearer {token.json['access_token']}"})
    responses.check(f"{PREFIX}/accounts/me", "get", me)
    bearer = {"Authorization": f"Bearer {token.json['access_token']}"}
    for change in ({"phone": "+6591234567"}, {"name": "Ann Lee", "phone": None}):
        responses.check(f"{PREFIX}/accounts/me", "patch",
                        testapp.patch_json(f"{PREFIX}/accounts/me", change, headers=bearer))
    responses.check(f"{PREFIX}/accounts/me", "patch",
                    testapp.patch_json(f"{PREFIX}/accounts/me", {"phone": "12"},
                                       headers=bearer, status=422))
    wrong = testapp.post_json(f"{PREFIX}/auth/token", {
        "email": "new@example.com", "password": "wrong password!"}, status=401)
    responses.check(f"{PREFIX}/auth/token", "post", wrong)


@pytest.mark.parametrize(("path", "method", "call"), [
    (f"{PREFIX}/accounts/me", "get", lambda t, h: t.get(f"{PREFIX}/accounts/me", status=401)),
    (f"{PREFIX}/orders", "get", lambda t, h: t.get(
        f"{PREFIX}/orders", headers={"Authorization": "Bearer not.a.token"}, status=401)),
    (f"{ITEMS}/{{id}}", "get", lambda t, h: t.get(f"{ITEMS}/nope", status=404)),
    (f"{PREFIX}/orders/{{id}}", "get", lambda t, h: t.get(f"{PREFIX}/orders/nope", headers=h,
                                                          status=404)),
    (ITEMS, "get", lambda t, h: t.get(ITEMS, {"limit": 1000}, status=422)),
    (ITEMS, "get", lambda t, h: t.get(ITEMS, {"cursor": "forged"}, status=422)),
    (ITEMS, "post", lambda t, h: t.post_json(ITEMS, {"price": -1, "role": "admin"},
                                             headers=h, status=422)),
    (ITEMS, "post", lambda t, h: t.post(ITEMS, "{", headers=h,
                                        content_type="application/json", status=400)),
    (ITEMS, "post", lambda t, h: t.post(ITEMS, "x", headers=h, content_type="text/plain",
                                        status=415)),
    (f"{PREFIX}/store", "patch", lambda t, h: t.patch_json(f"{PREFIX}/store", {"open": False},
                                                           headers=h, status=403)),
])
def test_error_answers_match_the_documented_envelope(testapp, responses, auth, path, method,
                                                     call):
    responses.check(path, method, call(testapp, auth("staff")))


def test_a_refund_takes_an_optional_amount_and_its_answers_match_the_document(
        testapp, responses, document, shop, auth):
    op = operation(document, "/orders/{id}/refund", "post")
    assert op["requestBody"]["required"] is False
    amount = document["components"]["schemas"]["RefundIn"]["properties"]["amount"]
    assert (amount["type"], amount["minimum"]) == ("integer", 1)
    assert {"409", "415", "422"} <= set(op["responses"])
    shopper, admin = auth("customer"), auth("admin")
    order = testapp.post_json(f"{PREFIX}/orders", {
        "lines": [{"item_id": shop["item"]["id"], "quantity": 2}],
        "payment_method": "pm_card_visa"}, headers=shopper).json
    path, url = f"{PREFIX}/orders/{{id}}/refund", f"{PREFIX}/orders/{order['id']}/refund"

    part = testapp.post_json(url, {"amount": 100}, headers=admin)
    assert (part.json["status"], part.json["payment"]["refunded"]) == ("paid", 100)
    responses.check(path, "post", part)
    responses.check(path, "post", testapp.post_json(url, {"amount": order["total"]},
                                                    headers=admin, status=422))
    responses.check(path, "post", testapp.post(url, headers=admin))
    responses.check(path, "post", testapp.post(url, headers=admin, status=409))


def test_an_undocumented_status_fails_the_check(testapp, responses):
    """The checker itself can fail: GET /items never documents 404."""
    with pytest.raises(AssertionError, match="undocumented 404"):
        responses.check(ITEMS, "get", testapp.get(f"{ITEMS}/nope", status=404))


def test_a_body_off_the_schema_fails_the_check(testapp, responses):
    """An answer with a field the schema does not name is caught (no silent drift)."""
    response = testapp.get(ITEMS)
    page = response.json
    page["data"].append({"id": "x", "surprise": True})
    response.body = json.dumps(page).encode()
    with pytest.raises(AssertionError, match="surprise"):
        responses.check(ITEMS, "get", response)


# --- helpers -----------------------------------------------------------------------------

def operations_of(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield path, method, op


def operation(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    return document["paths"][PREFIX + path][method]


def resolved(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """A schema with its $ref followed to the component it names."""
    while "$ref" in node:
        node = document["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _patterns(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            else:
                yield from _patterns(value)
    elif isinstance(node, list):
        for value in node:
            yield from _patterns(value)


def test_every_pattern_is_a_javascript_regular_expression(document):
    """JSON Schema patterns are ECMA-262: Python's \\A and \\Z do not exist there (in
    JavaScript `\\Z` is a plain `Z`, so the opening-hours pattern matched nothing)."""
    import shutil
    import subprocess

    patterns = sorted(set(_patterns(document)))
    assert any("24:00" in pattern for pattern in patterns)
    assert not [p for p in patterns if "\\A" in p or "\\Z" in p or "(?P" in p]
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    script = ("const ps = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
              "for (const p of ps) new RegExp(p, 'u');"
              "const hour = ps.find(p => p.includes('24:00'));"
              "if (!new RegExp(hour, 'u').test('18:30') || new RegExp(hour, 'u').test('18:30\\n'))"
              " process.exit(3);")
    result = subprocess.run([node, "-e", script], input=json.dumps(patterns), text=True,
                            capture_output=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr

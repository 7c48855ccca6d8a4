"""Every route's permission, read from Pyramid's own registry and compared with an explicit
table: a route added without a permission, or with the wrong one, fails here by name. Then
each protected endpoint is called once per role, and must answer 401, 403 or go through
exactly as ROLE_PERMISSIONS says (for the HTML pages: a redirect to the sign-in page, a 403
page, or the page)."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from PIL import Image
from pyramid.interfaces import IDefaultPermission
from pyramid.security import NO_PERMISSION_REQUIRED
from webtest import TestApp

from minimart.domain.actors import ROLE_PERMISSIONS, Permission, Role
from tests.functional.conftest import PASSWORD

PUBLIC = None

# (route name, method) -> the permission its view must require; PUBLIC for none.
EXPECTED: dict[tuple[str, str], str | None] = {
    ("ops.healthz", "GET"): PUBLIC,
    ("ops.readyz", "GET"): PUBLIC,
    ("api.openapi", "GET"): PUBLIC,
    ("api.items.list", "GET"): PUBLIC,
    ("api.items.list", "POST"): Permission.CATALOG_WRITE,
    ("api.items.detail", "GET"): PUBLIC,
    ("api.items.detail", "PATCH"): Permission.CATALOG_WRITE,
    ("api.items.detail", "DELETE"): Permission.CATALOG_WRITE,
    ("api.items.stock_adjustments", "POST"): Permission.CATALOG_WRITE,
    ("api.items.image", "PUT"): Permission.CATALOG_WRITE,
    ("api.items.image", "DELETE"): Permission.CATALOG_WRITE,
    ("images.show", "GET"): PUBLIC,
    ("images.variant", "GET"): PUBLIC,
    ("api.categories.list", "GET"): PUBLIC,
    ("api.categories.list", "POST"): Permission.CATALOG_WRITE,
    ("api.categories.detail", "GET"): PUBLIC,
    ("api.categories.detail", "PATCH"): Permission.CATALOG_WRITE,
    ("api.categories.detail", "DELETE"): Permission.CATALOG_WRITE,
    ("api.store", "GET"): PUBLIC,
    ("api.store", "PATCH"): Permission.STORE_MANAGE,
    ("api.accounts.list", "POST"): PUBLIC,
    ("api.auth.token", "POST"): PUBLIC,
    ("api.accounts.me", "GET"): Permission.VIEW_OWN_ACCOUNT,
    ("api.accounts.me", "PATCH"): Permission.VIEW_OWN_ACCOUNT,
    ("api.accounts.password", "POST"): Permission.VIEW_OWN_ACCOUNT,
    ("api.auth.totp", "POST"): Permission.SECOND_FACTOR,
    ("api.auth.totp_confirm", "POST"): Permission.SECOND_FACTOR,
    ("api.orders.list", "GET"): Permission.PLACE_ORDERS,
    ("api.orders.list", "POST"): Permission.PLACE_ORDERS,
    ("api.orders.detail", "GET"): Permission.PLACE_ORDERS,
    ("api.orders.cancel", "POST"): Permission.PLACE_ORDERS,
    ("api.orders.fulfil", "POST"): Permission.ORDERS_MANAGE,
    ("api.orders.refund", "POST"): Permission.REFUNDS,
    ("api.payments.ephemeral_keys", "POST"): Permission.PLACE_ORDERS,
    ("api.payments.stripe_webhook", "POST"): PUBLIC,  # proven by the Stripe signature
    ("api.audit_events.list", "GET"): Permission.AUDIT_READ,
    # operations: /metrics is guarded by its own scrape token, not by a role
    ("ops.metrics", "GET"): PUBLIC,
    # the HTML pages (identity from the session cookie)
    ("__static/", "*"): PUBLIC,  # CSS and images
    ("html.home", "GET"): PUBLIC,
    ("html.items.detail", "GET"): PUBLIC,
    ("html.login", "GET"): PUBLIC,
    ("html.login", "POST"): PUBLIC,
    ("html.register", "GET"): PUBLIC,
    ("html.register", "POST"): PUBLIC,
    ("html.logout", "POST"): PUBLIC,
    ("html.items.order", "POST"): Permission.PLACE_ORDERS,
    ("html.orders.list", "GET"): Permission.PLACE_ORDERS,
    ("html.orders.detail", "GET"): Permission.PLACE_ORDERS,
    ("html.orders.cancel", "POST"): Permission.PLACE_ORDERS,
    ("html.admin.home", "GET"): Permission.ORDERS_MANAGE,
    ("html.admin.items", "GET"): Permission.CATALOG_WRITE,
    ("html.admin.items.new", "GET"): Permission.CATALOG_WRITE,
    ("html.admin.items.new", "POST"): Permission.CATALOG_WRITE,
    ("html.admin.items.edit", "GET"): Permission.CATALOG_WRITE,
    ("html.admin.items.edit", "POST"): Permission.CATALOG_WRITE,
    ("html.admin.items.archive", "GET"): Permission.CATALOG_WRITE,
    ("html.admin.items.archive", "POST"): Permission.CATALOG_WRITE,
    ("html.admin.items.stock", "GET"): Permission.CATALOG_WRITE,
    ("html.admin.items.stock", "POST"): Permission.CATALOG_WRITE,
    ("html.admin.orders", "GET"): Permission.ORDERS_MANAGE,
    ("html.admin.orders.fulfil", "POST"): Permission.ORDERS_MANAGE,
    ("html.admin.orders.refund", "POST"): Permission.REFUNDS,
    ("html.admin.audit", "GET"): Permission.AUDIT_READ,
}
# Static assets answer any method (Pyramid's static view); nothing else may.
ANY_METHOD = {"__static/"}


def public_if_exempt(permission: Any) -> Any:
    """Pyramid's explicit "no permission required" (static views) is public too."""
    return PUBLIC if permission == NO_PERMISSION_REQUIRED else permission


def registered_views(app: Any) -> dict[tuple[str, str], list[tuple[Any, Any]]]:
    """(route, method) -> [(permission from the introspector, permission the derived view
    enforces)] for every view Pyramid registered on a route."""
    found: dict[tuple[str, str], list[tuple[Any, Any]]] = {}
    for entry in app.registry.introspector.get_category("views"):
        view = entry["introspectable"]
        if view["route_name"] is None:
            continue  # exception, forbidden and not-found views
        methods = view["request_methods"]
        methods = ["*"] if methods is None else [methods] if isinstance(methods, str) \
            else list(methods)
        declared = [public_if_exempt(r["value"]) for r in entry["related"]
                    if r.category_name == "permissions"]
        assert len(declared) <= 1, f"{view['route_name']} has several permissions"
        enforced = public_if_exempt(getattr(view["derived_callable"], "__permission__", None))
        for method in methods:
            found.setdefault((view["route_name"], method), []).append(
                (declared[0] if declared else None, enforced))
    return found


def route_names(app: Any) -> set[str]:
    return {entry["introspectable"]["name"]
            for entry in app.registry.introspector.get_category("routes")}


def test_no_default_permission_makes_a_route_silently_protected_or_public(app):
    assert app.registry.queryUtility(IDefaultPermission) is None


def test_every_route_has_at_least_one_view(app):
    with_views = {route for route, _ in registered_views(app)}

    assert route_names(app) - with_views == set()


def test_every_route_and_method_requires_exactly_the_expected_permission(app):
    views = registered_views(app)

    unlisted = sorted(set(views) - set(EXPECTED))
    assert not unlisted, (
        f"routes missing from EXPECTED in {__name__}: {unlisted}; add each with the "
        "permission it must require (PUBLIC only for endpoints anyone may call)")
    gone = sorted(set(EXPECTED) - set(views))
    assert not gone, f"EXPECTED lists routes the app no longer has: {gone}"
    wrong = {key: found for key, found in views.items()
             if any(perm != EXPECTED[key] for pair in found for perm in pair)}
    assert not wrong, "permission differs from EXPECTED (declared, enforced): " + ", ".join(
        f"{route} {method}: {found} != {EXPECTED[(route, method)]!r}"
        for (route, method), found in sorted(wrong.items()))


def test_every_expected_permission_is_a_real_permission():
    assert {p for p in EXPECTED.values() if p is not PUBLIC} <= set(Permission)


def test_no_view_but_static_assets_answers_every_method(app):
    """A view registered for every method at once would let a POST through a check that
    was meant for a GET."""
    assert not [key for key in registered_views(app) if key[1] == "*"
                and key[0] not in ANY_METHOD]


# --- each protected endpoint, called by each role ---------------------------------------------

ROLES = ["anonymous", "customer", "staff", "admin"]


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


@dataclass
class World:
    """What a probe needs: an item, a category, the caller's own pending order, and a paid
    order of some other customer."""

    item_id: str
    category_id: str
    own_order_id: str | None
    paid_order_id: str


@dataclass(frozen=True)
class Probe:
    route: str
    method: str
    path: str  # formatted with World's fields
    body: Any = None  # JSON, or bytes sent as image/png
    allowed: int = 200  # the status when the role holds the permission


PROBES = [
    Probe("api.items.list", "POST", "/api/v1/items", {"name": "Jam", "price": 300}, 201),
    Probe("api.items.detail", "PATCH", "/api/v1/items/{item_id}", {"price": 1}),
    Probe("api.items.detail", "DELETE", "/api/v1/items/{item_id}", allowed=204),
    Probe("api.items.stock_adjustments", "POST", "/api/v1/items/{item_id}/stock-adjustments",
          {"delta": 1, "reason": "delivery"}, 201),
    Probe("api.items.image", "PUT", "/api/v1/items/{item_id}/image", b"png"),
    Probe("api.items.image", "DELETE", "/api/v1/items/{item_id}/image", allowed=204),
    Probe("api.categories.list", "POST", "/api/v1/categories", {"name": "Drinks"}, 201),
    Probe("api.categories.detail", "PATCH", "/api/v1/categories/{category_id}",
          {"name": "Hot drinks"}),
    Probe("api.categories.detail", "DELETE", "/api/v1/categories/{category_id}",
          allowed=204),
    Probe("api.store", "PATCH", "/api/v1/store", {"delivery_fee": 0}),
    Probe("api.accounts.me", "GET", "/api/v1/accounts/me"),
    Probe("api.accounts.me", "PATCH", "/api/v1/accounts/me", {"phone": "+6591234567"}),
    Probe("api.accounts.password", "POST", "/api/v1/accounts/me/password",
          {"current_password": PASSWORD, "new_password": "another long password"}, 204),
    Probe("api.auth.totp", "POST", "/api/v1/auth/totp", {"password": PASSWORD}, 201),
    # no enrolment was started, so a permitted caller's code is simply wrong
    Probe("api.auth.totp_confirm", "POST", "/api/v1/auth/totp/confirm", {"code": "123456"},
          422),
    Probe("api.orders.list", "GET", "/api/v1/orders"),
    Probe("api.orders.list", "POST", "/api/v1/orders",
          {"lines": [{"item_id": "{item_id}", "quantity": 1}]}, 201),
    Probe("api.orders.detail", "GET", "/api/v1/orders/{own_order_id}"),
    Probe("api.orders.cancel", "POST", "/api/v1/orders/{own_order_id}/cancel", {}),
    Probe("api.orders.fulfil", "POST", "/api/v1/orders/{paid_order_id}/fulfil", {}),
    Probe("api.orders.refund", "POST", "/api/v1/orders/{paid_order_id}/refund", {}),
    Probe("api.payments.ephemeral_keys", "POST", "/api/v1/payments/ephemeral-keys",
          {"api_version": "2024-06-20"}, 201),
    Probe("api.audit_events.list", "GET", "/api/v1/audit-events"),
]


HTML_PROBES = [
    Probe("html.items.order", "POST", "/items/{item_id}/order", {"quantity": "1"}),
    Probe("html.orders.list", "GET", "/orders"),
    Probe("html.orders.detail", "GET", "/orders/{own_order_id}"),
    Probe("html.orders.cancel", "POST", "/orders/{own_order_id}/cancel", {}),
    Probe("html.admin.home", "GET", "/admin"),
    Probe("html.admin.items", "GET", "/admin/items"),
    Probe("html.admin.items.new", "GET", "/admin/items/new"),
    Probe("html.admin.items.new", "POST", "/admin/items/new", {"name": "Jam", "price": "3.00"}),
    Probe("html.admin.items.edit", "GET", "/admin/items/{item_id}/edit"),
    Probe("html.admin.items.edit", "POST", "/admin/items/{item_id}/edit",
          {"name": "Tea", "price": "2.60"}),
    Probe("html.admin.items.archive", "GET", "/admin/items/{item_id}/archive"),
    Probe("html.admin.items.archive", "POST", "/admin/items/{item_id}/archive", {}),
    Probe("html.admin.items.stock", "GET", "/admin/items/{item_id}/stock"),
    Probe("html.admin.items.stock", "POST", "/admin/items/{item_id}/stock",
          {"delta": "1", "reason": "delivery"}),
    Probe("html.admin.orders", "GET", "/admin/orders"),
    Probe("html.admin.orders.fulfil", "POST", "/admin/orders/{paid_order_id}/fulfil", {}),
    Probe("html.admin.orders.refund", "POST", "/admin/orders/{paid_order_id}/refund", {}),
    Probe("html.admin.audit", "GET", "/admin/audit"),
]


def test_every_protected_route_has_a_role_probe():
    protected = {key for key, permission in EXPECTED.items() if permission is not PUBLIC}
    probed = {(p.route, p.method) for p in PROBES + HTML_PROBES}

    assert protected - probed == set(), "add a Probe for each protected route"
    assert probed - protected == set(), "a Probe names a route EXPECTED calls public"


@pytest.fixture
def world(testapp: Any, make_account: Callable[..., dict[str, str]]) -> Callable[..., World]:
    staff = make_account("staff")
    buyer = make_account("customer")
    built = iter(range(1_000_000))  # category names are unique (409 name_taken)

    def build(caller: dict[str, str] | None) -> World:
        staff_headers = {"Authorization": staff["Authorization"]}
        item = testapp.post_json("/api/v1/items", {"name": "Tea", "price": 250, "stock": 50},
                                 headers=staff_headers, status=201).json
        category = testapp.post_json("/api/v1/categories", {"name": f"Tea {next(built)}"},
                                     headers=staff_headers, status=201).json
        lines = {"lines": [{"item_id": item["id"], "quantity": 1}]}
        paid = testapp.post_json("/api/v1/orders", {**lines, "payment_method": "pm_card_visa"},
                                 headers={"Authorization": buyer["Authorization"]},
                                 status=201).json
        own = None if caller is None else testapp.post_json(
            "/api/v1/orders", lines, headers={"Authorization": caller["Authorization"]},
            status=201).json["id"]
        return World(item["id"], category["id"], own, paid["id"])

    return build


def call(testapp: Any, probe: Probe, world: World, headers: dict[str, str]) -> Any:
    fields = {k: v or "none" for k, v in vars(world).items()}
    path = probe.path.format(**fields)
    method = probe.method.lower()
    if isinstance(probe.body, bytes):
        return testapp.request(path, method=probe.method, body=png(),
                               headers={**headers, "Content-Type": "image/png"},
                               expect_errors=True)
    if probe.body is None:
        return getattr(testapp, method)(path, headers=headers, expect_errors=True)
    body = {k: ([{**line, "item_id": world.item_id} for line in v] if k == "lines" else v)
            for k, v in probe.body.items()}
    if probe.route.startswith("api.categories") and "name" in body:
        body["name"] = f"{body['name']} {world.category_id}"  # names are unique (409)
    return getattr(testapp, f"{method}_json")(path, body, headers=headers, expect_errors=True)


def expected_status(probe: Probe, role: str) -> int:
    permission = EXPECTED[(probe.route, probe.method)]
    if role == "anonymous":
        return 401
    return probe.allowed if permission in ROLE_PERMISSIONS[Role(role)] else 403


@pytest.mark.parametrize("probe", PROBES, ids=[f"{p.method} {p.route}" for p in PROBES])
def test_each_role_gets_exactly_what_role_permissions_grants(testapp, make_account, world,
                                                             probe):
    mismatches = []
    for role in ROLES:
        caller = None if role == "anonymous" else make_account(role)
        headers = {} if caller is None else {"Authorization": caller["Authorization"]}
        response = call(testapp, probe, world(caller), headers)
        wanted = expected_status(probe, role)
        if response.status_int != wanted:
            mismatches.append(f"{role}: {response.status_int} (wanted {wanted}) "
                              f"{response.body[:200]!r}")
        if wanted in (401, 403):
            code = "unauthenticated" if wanted == 401 else "forbidden"
            assert response.json["error"]["code"] == code
    assert not mismatches, f"{probe.method} {probe.path}: " + "; ".join(mismatches)


# --- the HTML pages, signed in with the session cookie ---------------------------------------

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def browser(app: Any, account: dict[str, str] | None) -> tuple[TestApp, str]:
    """A browser of its own (its own cookies), signed in through the sign-in form, and the
    CSRF token its pages carry."""
    visitor = TestApp(app)
    page = visitor.get("/login")
    token = CSRF.search(page.text)
    assert token, "the sign-in page has no CSRF token"
    if account is None:
        return visitor, token.group(1)
    visitor.post("/login", {"email": account["email"], "password": PASSWORD,
                            "csrf_token": token.group(1)}, status=303)
    token = CSRF.search(visitor.get("/").text)  # a fresh token comes with the sign-in
    assert token, "a signed-in page has no CSRF token"
    return visitor, token.group(1)


def page_outcome(response: Any) -> str:
    """What a page answered: sent to sign in, refused, or let through."""
    location = response.headers.get("Location", "")
    if response.status_int in (302, 303) and "/login" in location:
        return "sign-in"
    if response.status_int == 403:
        return "refused"
    assert response.status_int < 500, response.body[:300]
    return "allowed"


def expected_outcome(probe: Probe, role: str) -> str:
    if role == "anonymous":
        return "sign-in"
    permitted = EXPECTED[(probe.route, probe.method)] in ROLE_PERMISSIONS[Role(role)]
    return "allowed" if permitted else "refused"


@pytest.mark.parametrize("probe", HTML_PROBES,
                         ids=[f"{p.method} {p.route}" for p in HTML_PROBES])
def test_each_role_gets_exactly_the_pages_role_permissions_grants(app, make_account, world,
                                                                  probe):
    mismatches = []
    for role in ROLES:
        account = None if role == "anonymous" else make_account(role)
        visitor, token = browser(app, account)
        path = probe.path.format(**{k: v or "none" for k, v in vars(world(account)).items()})
        if probe.method == "GET":
            response = visitor.get(path, expect_errors=True)
        else:
            response = visitor.post(path, {**probe.body, "csrf_token": token},
                                    expect_errors=True)
        outcome, wanted = page_outcome(response), expected_outcome(probe, role)
        if outcome != wanted:
            mismatches.append(f"{role}: {outcome} ({response.status}) wanted {wanted}")
    assert not mismatches, f"{probe.method} {probe.path}: " + "; ".join(mismatches)

"""Operations: liveness, readiness, request ids, and JSON errors everywhere under /api."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError
from webtest import TestApp

from minimart import make_app
from minimart.adapters.sqlalchemy.database import make_engine, upgrade_schema
from minimart.entrypoints.web.metrics import REGISTRY
from minimart.entrypoints.web.security import SESSION_COOKIE
from tests.conftest import FAST_ARGON2, TEST_JWT_SECRET
from tests.functional.conftest import PASSWORD
from tests.functional.envelope import assert_error
from tests.functional.html_pages import sign_in

ITEMS = "/api/v1/items"
HEX_ID = re.compile(r"^[0-9a-f]{32}$")




@pytest.fixture
def app_on() -> Iterator[Callable[[str], TestApp]]:
    """Build the app on a database URL of the test's choosing (unmigrated, unreachable)."""
    built: list[Any] = []

    def build(database_url: str, **settings: str) -> TestApp:
        wsgi = make_app({"minimart.environment": "test", "minimart.database_url": database_url,
                         "minimart.jwt_secret": TEST_JWT_SECRET, "minimart.currency": "usd",
                         **FAST_ARGON2, **settings}, environ={})
        built.append(wsgi)
        return TestApp(wsgi)

    yield build
    for wsgi in built:
        wsgi.registry.container.engine.dispose()


# --- liveness and readiness -------------------------------------------------------------------

def test_healthz_answers_200_ok(testapp):
    response = testapp.get("/healthz", status=200)
    assert response.content_type == "application/json"
    assert response.json == {"status": "ok"}


def test_readyz_answers_200_when_the_database_is_migrated(testapp):
    response = testapp.get("/readyz", status=200)
    assert response.content_type == "application/json"
    assert response.json["status"] == "ready"


def test_readyz_answers_503_when_the_schema_is_not_current(app_on, tmp_path):
    empty = app_on(f"sqlite:///{tmp_path / 'empty.sqlite'}")
    assert_error(empty.get("/readyz", status=503), 503, "unavailable")
    empty.get("/healthz", status=200)


@pytest.mark.postgres
def test_readyz_asks_on_a_connection_of_its_own_while_requests_hold_the_whole_pool(
        app_on, postgres_url):
    shop = app_on(postgres_url, **{"minimart.database.pool_size": "1",
                                   "minimart.database.max_overflow": "0",
                                   "minimart.database.pool_timeout_seconds": "5"})
    with shop.app.registry.container.engine.connect():  # the requests' only connection
        assert shop.get("/readyz", status=200).json == {"status": "ready"}


@pytest.mark.parametrize("unreachable", [
    pytest.param("sqlite:///{tmp}/no/such/dir/db.sqlite", id="sqlite-missing-directory"),
    pytest.param("postgresql+psycopg://postgres@127.0.0.1:1/test", id="postgresql-closed-port"),
])
def test_an_unreachable_database_answers_503_and_healthz_stays_up(app_on, tmp_path,
                                                                  unreachable):
    down = app_on(unreachable.format(tmp=tmp_path))
    down.get("/healthz", status=200)
    assert_error(down.get("/readyz", status=503), 503, "unavailable")
    response = down.get(ITEMS, status=503)
    assert_error(response, 503, "unavailable")
    assert "Traceback" not in response.text
    assert_error(down.post_json("/api/v1/auth/token",
                                {"email": "a@example.com", "password": "x" * 12},
                                status=503), 503, "unavailable")


@pytest.fixture
def signed_in(app_on: Callable[[str], TestApp], tmp_path: Path) -> dict[str, str]:
    """A bearer token and a page session cookie, from a working app with the tests' secret
    (so the app whose database is away takes them as genuine)."""
    url = f"sqlite:///{tmp_path / 'working.sqlite'}"
    engine = make_engine(url)
    upgrade_schema(engine)
    engine.dispose()
    working = app_on(url)
    working.post_json("/api/v1/accounts", {"email": "ann@example.com", "password": PASSWORD,
                                           "name": "Ann"}, status=201)
    token = working.post_json("/api/v1/auth/token", {"email": "ann@example.com",
                                                     "password": PASSWORD}).json
    sign_in(working, "ann@example.com")
    return {"token": token["access_token"], "cookie": working.cookies[SESSION_COOKIE]}


def requests_counted(route: str, status: int) -> float:
    return REGISTRY.get_sample_value("minimart_http_requests_total",
                                     {"method": "GET", "route": route,
                                      "status": str(status)}) or 0.0


def database_failures(client: TestApp) -> list[object]:
    """Grows by one with every failure of the app's database, failing to connect included."""
    failures: list[object] = []
    event.listen(client.app.registry.container.engine, "handle_error",
                 lambda context: failures.append(context.original_exception))
    return failures


def assert_answered_by_the_app(response: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Not waitress's bare 500: the app's request id, headers and one log line."""
    request_id = response.headers["X-Request-ID"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" in response.headers
    assert "Traceback" not in response.text
    assert [r.status for r in caplog.records if getattr(r, "request_id", None) == request_id
            ] == [response.status_int]


@pytest.mark.parametrize("unreachable", [
    pytest.param("sqlite:///{tmp}/no/such/dir/db.sqlite", id="sqlite-missing-directory"),
    pytest.param("postgresql+psycopg://postgres@127.0.0.1:1/test", id="postgresql-closed-port"),
])
def test_an_unreachable_database_answers_signed_in_calls_with_json_and_pages_with_a_page(
        app_on, tmp_path, unreachable, signed_in, caplog):
    down = app_on(unreachable.format(tmp=tmp_path))
    caplog.set_level(logging.INFO, logger="minimart.requests")
    counted_before = requests_counted("api.accounts.me", 503)

    response = down.get("/api/v1/accounts/me", status=503,
                        headers={"Authorization": f"Bearer {signed_in['token']}"})
    assert_error(response, 503, "unavailable")
    assert_answered_by_the_app(response, caplog)
    assert requests_counted("api.accounts.me", 503) == counted_before + 1
    down.get("/healthz", status=200, headers={"Authorization": f"Bearer {signed_in['token']}"})

    for cookie, paths in ((None, ("/", "/login")),
                          (signed_in["cookie"], ("/", "/login", "/orders", "/admin"))):
        if cookie is not None:
            down.set_cookie(SESSION_COOKIE, cookie)
        for path in paths:
            failures = database_failures(down)
            page = down.get(path, status=503)
            assert len(failures) == 1  # the 503 page does not try the database again
            assert page.content_type == "text/html"
            assert "Unavailable" in page.html.select_one("h1").text
            assert page.html.select_one("link[rel=stylesheet]")["href"].startswith("/static/")
            assert_answered_by_the_app(page, caplog)
        # an error page of its own shows its status, in the page that needs no database
        missing = down.get("/no-such-page", status=404)
        assert missing.html.select_one("h1").text == "Page not found"
        assert_answered_by_the_app(missing, caplog)


def database_down_above_the_views(request: Any) -> bool:
    """A tm.activate_hook: it runs in pyramid_tm's tween, above the exception views, where
    pyramid_tm's annotate_user used to look the caller up in the database."""
    raise OperationalError("SELECT 1", {}, ConnectionRefusedError("refused"))


def test_a_database_failure_above_the_exception_views_is_still_answered_by_the_app(
        app_on, tmp_path, caplog):
    failing = app_on(f"sqlite:///{tmp_path / 'db.sqlite'}",
                     **{"tm.activate_hook": f"{__name__}.database_down_above_the_views"})
    caplog.set_level(logging.INFO, logger="minimart.requests")

    response = failing.get(ITEMS, status=503)
    assert_error(response, 503, "unavailable")
    assert_answered_by_the_app(response, caplog)
    page = failing.get("/", status=503)
    assert "Unavailable" in page.html.select_one("h1").text
    assert_answered_by_the_app(page, caplog)


def test_healthz_refuses_other_methods_with_json(testapp):
    assert_error(testapp.post("/healthz", status=405), 405, "method_not_allowed")


# --- X-Request-ID -----------------------------------------------------------------------------

@pytest.mark.parametrize("given", ["abc-123", "req.2024-01-01:07_x", "A" * 128])
def test_a_sane_x_request_id_is_echoed(testapp, given):
    response = testapp.get("/healthz", headers={"X-Request-ID": given})
    assert response.headers["X-Request-ID"] == given


def test_a_new_request_id_is_generated_when_none_is_given(testapp):
    first = testapp.get("/healthz").headers["X-Request-ID"]
    second = testapp.get("/healthz").headers["X-Request-ID"]
    assert HEX_ID.match(first)
    assert HEX_ID.match(second)
    assert first != second


@pytest.mark.parametrize("given", ["has spaces", "A" * 129, "<script>", "a\tb", ""])
def test_an_unsafe_x_request_id_is_replaced_by_a_new_one(testapp, given):
    response = testapp.get("/healthz", headers={"X-Request-ID": given})
    assert HEX_ID.match(response.headers["X-Request-ID"])


def test_error_responses_carry_the_request_id_too(testapp):
    for path, status in (("/api/v1/nope", 404), ("/api/v1/accounts/me", 401),
                         (f"{ITEMS}?limit=0", 422)):
        response = testapp.get(path, headers={"X-Request-ID": "trace-me"}, status=status)
        assert response.headers["X-Request-ID"] == "trace-me"


def test_the_request_id_is_recorded_in_the_audit_trail(app, testapp, auth):
    testapp.post_json(ITEMS, {"name": "Tea", "price": 1},
                      headers={**auth("staff"), "X-Request-ID": "audit-me-1"}, status=201)
    with app.registry.container.engine.connect() as connection:
        actions = connection.execute(text(
            "SELECT action FROM audit_events WHERE request_id = 'audit-me-1'")).scalars().all()
    assert actions == ["item.created"]


# --- every error on /api/* is the JSON envelope -----------------------------------------------

def _error_requests(testapp: TestApp, auth: Callable[[str], dict[str, str]]) -> list[Any]:
    staff, customer = auth("staff"), auth("customer")
    item = testapp.post_json(ITEMS, {"name": "Tea", "price": 1, "stock": 1, "sku": "S1"},
                             headers=staff).json
    url = f"{ITEMS}/{item['id']}"
    return [
        (400, "malformed_json", lambda: testapp.post(
            "/api/v1/accounts", "{", content_type="application/json", status=400)),
        (400, "bad_request", lambda: testapp.post(
            "/api/v1/accounts", "[1]", content_type="application/json", status=400)),
        (401, "unauthenticated", lambda: testapp.get("/api/v1/accounts/me", status=401)),
        (401, "invalid_credentials", lambda: testapp.post_json(
            "/api/v1/auth/token", {"email": "no@example.com", "password": "x" * 12},
            status=401)),
        (403, "forbidden", lambda: testapp.post_json(
            ITEMS, {"name": "X", "price": 1}, headers=customer, status=403)),
        (404, "not_found", lambda: testapp.get(f"{ITEMS}/missing", status=404)),
        (404, "not_found", lambda: testapp.get("/api/v1/no-such-thing", status=404)),
        (404, "not_found", lambda: testapp.get("/api/", status=404)),
        (405, "method_not_allowed", lambda: testapp.put(ITEMS, status=405)),
        (409, "sku_taken", lambda: testapp.post_json(
            ITEMS, {"name": "Y", "price": 1, "sku": "S1"}, headers=staff, status=409)),
        (409, "insufficient_stock", lambda: testapp.post_json(
            f"{url}/stock-adjustments", {"delta": -2, "reason": "x"}, headers=staff,
            status=409)),
        (412, "precondition_failed", lambda: testapp.patch_json(
            url, {"price": 2}, headers={**staff, "If-Match": '"v999"'}, status=412)),
        (415, "unsupported_media_type", lambda: testapp.post(
            "/api/v1/accounts", "email=a", content_type="application/x-www-form-urlencoded",
            status=415)),
        (422, "validation_failed", lambda: testapp.get(ITEMS, {"sort": "bogus"}, status=422)),
    ]


def test_every_api_error_is_the_json_envelope(testapp, auth):
    seen = set()
    for status, code, request in _error_requests(testapp, auth):
        response = request()
        assert_error(response, status, code)
        assert "<html" not in response.text.lower()
        assert "Traceback" not in response.text
        seen.add(status)
    assert seen == {400, 401, 403, 404, 405, 409, 412, 415, 422}


@pytest.mark.parametrize("accept", ["text/html", "text/html,application/xhtml+xml,*/*;q=0.8",
                                    "application/xml", "*/*"])
def test_api_errors_are_json_whatever_the_accept_header(testapp, accept):
    for path, status, code in (("/api/v1/no-such-thing", 404, "not_found"),
                               ("/api/v1/accounts/me", 401, "unauthenticated"),
                               (f"{ITEMS}?limit=1000", 422, "validation_failed")):
        response = testapp.get(path, headers={"Accept": accept}, status=status)
        assert_error(response, status, code)


def test_an_unexpected_failure_answers_500_json_without_a_traceback(app, testapp, monkeypatch):
    real_services = app.registry.container.services

    def broken_services(manager, **kwargs):
        services = real_services(manager, **kwargs)

        def explode(*args, **kwargs):
            raise RuntimeError("secret internal detail")

        services.catalog_reads.list_items = explode
        return services

    monkeypatch.setattr(app.registry.container, "services", broken_services)
    response = testapp.get(ITEMS, headers={"X-Request-ID": "boom-1"}, status=500)
    assert_error(response, 500, "internal_error")
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text
    assert response.headers["X-Request-ID"] == "boom-1"

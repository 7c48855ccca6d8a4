"""Hardening headers on every response: successes, errors, 404s, 405s and non-API routes."""

from __future__ import annotations

from typing import Any

import pytest
from pyramid.request import Request
from pyramid.response import Response
from webtest import TestApp

from minimart.entrypoints.web.security_headers import (
    HSTS,
    HTML_POLICY,
    STRICT_POLICY,
    add_security_headers,
)

ITEMS = "/api/v1/items"
ALWAYS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
          "X-Frame-Options": "DENY"}


def assert_hardened(response: Any) -> None:
    for name, value in ALWAYS.items():
        assert response.headers.get(name) == value, name
    html = response.content_type == "text/html"
    assert response.headers["Content-Security-Policy"] == (HTML_POLICY if html
                                                           else STRICT_POLICY)


@pytest.fixture
def https(app: Any) -> TestApp:
    """The app as a TLS-terminating proxy trusted by waitress presents it."""
    return TestApp(app, extra_environ={"wsgi.url_scheme": "https"})


@pytest.mark.parametrize(("path", "status"), [
    (ITEMS, 200), ("/api/v1/store", 200), ("/api/v1/openapi.json", 200), ("/healthz", 200),
    ("/api/v1/items/nope", 404), ("/api/v1/accounts/me", 401), ("/no/such/page", 404),
    (f"{ITEMS}?limit=1000", 422),
])
def test_every_answer_carries_the_hardening_headers(testapp, path, status):
    assert_hardened(testapp.get(path, status=status))


def test_errors_from_bodies_and_methods_carry_the_hardening_headers(testapp, auth):
    staff = auth("staff")
    assert_hardened(testapp.post(ITEMS, "{", headers=staff, content_type="application/json",
                                 status=400))
    assert_hardened(testapp.put(ITEMS, "{}", headers=staff, content_type="application/json",
                                status=405))
    assert_hardened(testapp.post_json(ITEMS, {"price": -1}, headers=staff, status=422))
    assert_hardened(testapp.post_json(ITEMS, {"name": "X", "price": 1}, headers=auth("customer"),
                                      status=403))


def test_a_204_without_content_carries_the_hardening_headers(testapp, auth):
    staff = auth("staff")
    item = testapp.post_json(ITEMS, {"name": "Tea", "price": 1}, headers=staff).json
    assert_hardened(testapp.delete(f"{ITEMS}/{item['id']}", headers=staff, status=204))


def test_an_answer_to_a_signed_in_caller_is_not_stored(testapp, auth):
    response = testapp.get("/api/v1/accounts/me", headers=auth("customer"))
    assert response.headers["Cache-Control"] == "no-store"


def test_an_authorized_error_is_not_stored_either(testapp):
    response = testapp.get("/api/v1/accounts/me", headers={"Authorization": "Bearer forged"},
                           status=401)
    assert response.headers["Cache-Control"] == "no-store"


def test_an_anonymous_answer_is_not_marked_no_store(testapp):
    assert "no-store" not in testapp.get(ITEMS).headers.get("Cache-Control", "")
    assert "Cache-Control" not in testapp.get("/api/v1/accounts/me", status=401).headers


def test_a_view_that_sets_its_own_cache_control_keeps_it():
    response = Response(json_body={}, content_type="application/json")
    response.cache_control = "private, max-age=60"
    add_security_headers(Request.blank("/api/v1/x", headers={"Authorization": "Bearer t"}),
                         response)
    assert response.headers["Cache-Control"] == "private, max-age=60"


def test_no_store_is_only_added_under_the_api(testapp, auth):
    response = testapp.get("/healthz", headers={"Authorization": "Bearer x"})
    assert response.headers.get("Cache-Control") != "no-store"


def test_hsts_is_sent_over_https(https):
    for response in (https.get(ITEMS), https.get("/api/v1/items/nope", status=404)):
        assert response.headers["Strict-Transport-Security"] == HSTS


def test_hsts_is_not_sent_over_plain_http(testapp):
    assert "Strict-Transport-Security" not in testapp.get(ITEMS).headers
    assert "Strict-Transport-Security" not in testapp.get("/nope", status=404).headers


def test_an_html_page_of_the_app_gets_the_html_policy(testapp, https):
    for response in (testapp.get("/login"), testapp.get("/no/such/page", status=404)):
        assert response.content_type == "text/html"
        assert response.headers["Content-Security-Policy"] == HTML_POLICY
        assert response.headers["X-Frame-Options"] == "DENY"
    assert https.get("/login").headers["Strict-Transport-Security"] == HSTS


def test_html_gets_a_policy_that_allows_only_its_own_scripts_styles_and_images():
    response = Response("<p>hi</p>", content_type="text/html")
    add_security_headers(Request.blank("/admin"), response)
    policy = response.headers["Content-Security-Policy"]
    assert policy == HTML_POLICY
    for directive in ("script-src 'self'", "style-src 'self'", "img-src 'self'",
                      "default-src 'none'", "frame-ancestors 'none'"):
        assert directive in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_a_header_the_view_chose_is_left_alone():
    response = Response(b"", content_type="image/png")
    response.headers["Content-Security-Policy"] = "sandbox"
    response.headers["Referrer-Policy"] = "same-origin"
    add_security_headers(Request.blank("/images/k"), response)
    assert response.headers["Content-Security-Policy"] == "sandbox"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_a_path_that_is_not_utf8_still_gets_its_headers():
    """The tween reads the raw path: request.path would raise on a malformed escape."""
    request = Request.blank("/")
    request.environ["PATH_INFO"] = "/api/v1/items/\xff"
    request.headers["Authorization"] = "Bearer t"
    response = Response(json_body={}, content_type="application/json")
    add_security_headers(request, response)
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"

"""Security of the HTML pages: CSRF on every form that changes something, permissions,
escaping, the session cookie, signing out, redirects, and pages that need no inline code."""

from __future__ import annotations

from http.cookies import SimpleCookie

import pytest
from webtest import TestApp

from minimart.domain.actors import Actor
from minimart.domain.errors import NotFound
from tests.functional.conftest import PASSWORD
from tests.functional.html_pages import (
    add_item,
    all_items,
    all_orders,
    csrf_token,
    form_alert,
    get_item,
    sign_in,
    text_of,
)
from tests.functional.test_html_admin import place

SCRIPT = "<script>alert('owned')</script>"


@pytest.fixture
def admin(make_account, testapp):
    account = make_account("admin")
    sign_in(testapp, account["email"])
    return account


def session_cookie(response) -> SimpleCookie:
    [header] = [v for k, v in response.headerlist
                if k == "Set-Cookie" and v.startswith("minimart_session=")]
    cookie = SimpleCookie()
    cookie.load(header)
    return cookie


# --- CSRF --------------------------------------------------------------------------------------
def _forms(item_id: str, order_id: str) -> dict[str, tuple[str, dict[str, str]]]:
    """Every state-changing form, with data that would succeed given a valid token."""
    return {
        "create": ("/admin/items/new", {"name": "New", "price": "1.00", "stock": "1"}),
        "edit": (f"/admin/items/{item_id}/edit", {"name": "Renamed", "price": "9.99"}),
        "archive": (f"/admin/items/{item_id}/archive", {}),
        "stock": (f"/admin/items/{item_id}/stock", {"delta": "5", "reason": "x"}),
        "order": (f"/items/{item_id}/order", {"quantity": "1"}),
        "cancel": (f"/orders/{order_id}/cancel", {}),
        "fulfil": (f"/admin/orders/{order_id}/fulfil", {}),
        "refund": (f"/admin/orders/{order_id}/refund", {}),
        "logout": ("/logout", {}),
    }


@pytest.mark.parametrize("form", ["create", "edit", "archive", "stock", "order", "cancel",
                                  "fulfil", "refund", "logout"])
@pytest.mark.parametrize("token", [None, "wrong-token"], ids=["no-token", "wrong-token"])
def test_a_form_without_a_valid_csrf_token_is_refused_and_changes_nothing(
        testapp, in_transaction, admin, form, token):
    item = add_item(in_transaction, "Tea", 450, 10)
    order = place(in_transaction, admin["id"], item.id, paid=form != "cancel")
    before = (all_items(in_transaction), all_orders(in_transaction))
    path, data = _forms(item.id, order.id)[form]
    if token is not None:
        data = {**data, "csrf_token": token}

    page = testapp.post(path, data, status=403)

    assert page.content_type == "text/html"
    assert "did not come from this site" in page.text
    assert (all_items(in_transaction), all_orders(in_transaction)) == before
    testapp.get("/admin", status=200)  # still signed in: not even the logout happened


def test_the_same_forms_succeed_with_the_sessions_token(testapp, in_transaction, admin):
    """The refusals above are about the token, not the forms."""
    item = add_item(in_transaction, "Tea", 450, 10)
    order = place(in_transaction, admin["id"], item.id)
    token = csrf_token(testapp)
    forms = _forms(item.id, order.id)
    for name in ("create", "stock", "order", "fulfil", "refund", "edit", "archive", "logout"):
        path, data = forms[name]
        testapp.post(path, {**data, "csrf_token": token}, status=303)
    assert get_item(in_transaction, item.id).archived
    testapp.get("/admin", status=303)


@pytest.mark.parametrize("path", ["/login", "/register"])
def test_sign_in_and_sign_up_forms_need_the_token_too(testapp, in_transaction, make_account,
                                                      path):
    account = make_account("customer")
    testapp.get(path)  # the visitor has a session and a token now
    data = {"email": account["email"] if path == "/login" else "new@example.com",
            "password": PASSWORD, "name": "New"}

    testapp.post(path, data, status=403)

    testapp.get("/orders", status=303)
    with pytest.raises(Exception, match="no account"):
        in_transaction(lambda s: s.accounts.find_by_email("new@example.com"))


def test_the_json_api_needs_no_csrf_token_even_beside_a_session(testapp, admin):
    response = testapp.post_json("/api/v1/items", {"name": "Tea", "price": 100},
                                 headers={"Authorization": admin["Authorization"]},
                                 status=201)
    assert response.json["name"] == "Tea"


# --- permissions -------------------------------------------------------------------------------
def test_a_customer_cannot_use_admin_forms_even_with_a_valid_token(testapp, in_transaction,
                                                                   make_account):
    item = add_item(in_transaction, "Tea", 450, 10)
    sign_in(testapp, make_account("customer")["email"])
    token = csrf_token(testapp)

    testapp.post("/admin/items/new", {"name": "X", "price": "1", "stock": "1",
                                      "csrf_token": token}, status=403)
    testapp.post(f"/admin/items/{item.id}/stock", {"delta": "5", "reason": "x",
                                                   "csrf_token": token}, status=403)

    assert [(i.name, i.stock) for i in all_items(in_transaction)] == [("Tea", 10)]


def test_a_customer_on_admin_items_gets_403_and_a_visitor_the_sign_in_page(testapp,
                                                                           make_account):
    redirect = testapp.get("/admin/items", status=303)
    assert redirect.location.endswith("/login?next=%2Fadmin%2Fitems")

    sign_in(testapp, make_account("customer")["email"])
    page = testapp.get("/admin/items", status=403)
    assert page.content_type == "text/html"
    assert "may not open this page" in page.text


def test_a_copy_of_the_cookie_opens_nothing_after_signing_out(app, testapp, make_account):
    account = make_account("staff")
    sign_in(testapp, account["email"])
    copied = testapp.cookies["minimart_session"]  # stolen, or kept by a shared computer
    elsewhere = TestApp(app)
    sign_in(elsewhere, account["email"])  # the same person in another browser

    testapp.get("/admin").forms["logout-form"].submit(status=303)

    thief = TestApp(app)
    thief.set_cookie("minimart_session", copied)
    thief.get("/admin", status=303)  # to the sign-in page
    elsewhere.get("/admin", status=200)  # only that sign-in ended


def test_a_disabled_accounts_session_stops_working(testapp, in_transaction, make_account):
    account = make_account("staff")
    sign_in(testapp, account["email"])
    testapp.get("/admin", status=200)

    in_transaction(lambda s: s.accounts.disable(account["email"], Actor.system()))

    testapp.get("/admin", status=303)


# --- escaping ----------------------------------------------------------------------------------
def test_markup_stored_in_an_item_name_renders_inert_everywhere(testapp, in_transaction, admin):
    item = add_item(in_transaction, SCRIPT, 450, 3, description=SCRIPT)
    in_transaction(lambda s: s.catalog.adjust_stock(item.id, 1, SCRIPT, Actor.system()))

    for path in ("/", f"/items/{item.id}", "/admin/items", f"/admin/items/{item.id}/edit",
                 f"/admin/items/{item.id}/archive", "/admin/audit", "/admin"):
        page = testapp.get(path, status=200)
        assert SCRIPT not in page.text, path
        assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;" in page.text, path
        assert page.html.find("script") is None, path


def test_markup_typed_into_a_refused_form_comes_back_escaped(testapp, admin):
    form = testapp.get("/admin/items/new").forms["item-form"]
    form["name"], form["price"] = SCRIPT, "not a price"

    page = form.submit(status=422)

    assert SCRIPT not in page.text
    assert page.forms["item-form"]["name"].value == SCRIPT


# --- the session cookie ------------------------------------------------------------------------
def test_the_session_cookie_is_httponly_samesite_lax_and_not_secure_outside_production(
        testapp, make_account):
    redirect = sign_in(testapp, make_account("customer")["email"])

    morsel = session_cookie(redirect)["minimart_session"]
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Lax"
    assert not morsel["secure"]
    assert morsel["path"] == "/"


def test_signing_in_starts_a_new_session(testapp, make_account):
    testapp.get("/login")
    before = testapp.cookies["minimart_session"]

    sign_in(testapp, make_account("customer")["email"])

    assert testapp.cookies["minimart_session"] != before


def test_signing_out_ends_the_session(testapp, make_account):
    sign_in(testapp, make_account("customer")["email"])
    signed_in = testapp.cookies["minimart_session"]
    old_token = csrf_token(testapp)
    testapp.get("/orders", status=200)

    response = testapp.get("/").forms["logout-form"].submit(status=303)

    assert session_cookie(response)["minimart_session"].value != signed_in
    testapp.get("/orders", status=303)
    assert "Sign in" in text_of(testapp.get("/"), ".nav")
    testapp.post("/register", {"csrf_token": old_token, "name": "X", "password": PASSWORD,
                               "email": "x@example.com"}, status=403)  # its token went too


def test_anonymous_browsing_sets_no_cookie(testapp, in_transaction):
    item = add_item(in_transaction, "Tea")

    for path in ("/", f"/items/{item.id}", "/no-such-page"):
        response = testapp.get(path, status="*")
        assert "Set-Cookie" not in response.headers, path


# --- redirects and pages -----------------------------------------------------------------------
@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/",
                                    "/\\evil.example", "javascript:alert(1)", "/ok\r\nX: y"])
def test_sign_in_never_redirects_off_the_site(testapp, make_account, target):
    account = make_account("customer")
    form = testapp.get("/login", {"next": target}).forms["login-form"]
    form["email"], form["password"] = account["email"], PASSWORD

    redirect = form.submit(status=303)

    assert redirect.location == "http://localhost/"


@pytest.mark.parametrize(("target", "location"), [
    ("/\u3002", "/%E3%80%82"),
    ("/items?q=caf\u00e9#top", "/items?q=caf%C3%A9#top"),
    ("/orders?a=1&b=%2F", "/orders?a=1&b=%2F"),
])
def test_sign_in_redirects_to_a_target_outside_ascii_percent_encoded(
        testapp, make_account, target, location):
    account = make_account("customer")
    form = testapp.get("/login", {"next": target}).forms["login-form"]
    form["email"], form["password"] = account["email"], PASSWORD

    redirect = form.submit(status=303)

    assert redirect.location == "http://localhost" + location


def test_fulfilling_with_a_back_address_outside_latin_1_answers_its_redirect(
        testapp, in_transaction, admin):
    item = add_item(in_transaction, "Tea", 450, 10)
    order = place(in_transaction, admin["id"], item.id)

    redirect = testapp.post(f"/admin/orders/{order.id}/fulfil",
                            {"csrf_token": csrf_token(testapp), "back": "/admin/orders?\u3002"},
                            status=303)

    assert redirect.location == "http://localhost/admin/orders?%E3%80%82"


def test_signed_in_pages_are_not_stored_by_any_cache(testapp, in_transaction, make_account):
    item = add_item(in_transaction, "Tea", stock=2)
    assert "no-store" not in testapp.get("/", status=200).headers.get("Cache-Control", "")
    account = make_account("customer")
    signed_in = sign_in(testapp, account["email"])

    assert signed_in.headers["Cache-Control"] == "no-store"
    for path in ("/", f"/items/{item.id}", "/orders"):
        assert testapp.get(path, status=200).headers["Cache-Control"] == "no-store", path


def test_pages_need_no_inline_code_and_load_only_from_this_site(testapp, in_transaction, admin):
    item = add_item(in_transaction, "Tea", stock=2)
    for path in ("/", f"/items/{item.id}", "/orders", "/admin", "/admin/items",
                 "/admin/items/new", f"/admin/items/{item.id}/stock", "/admin/orders",
                 "/admin/audit"):
        page = testapp.get(path, status=200)
        assert page.html.find("script") is None, path
        assert page.html.select("[style]") == [], path
        assert not [tag for tag in page.html.select("[onclick],[onload],[onsubmit]")], path
        links = [t.get("href") or t.get("src") for t in page.html.select("link, img")]
        assert all(link.startswith("/") for link in links), (path, links)
    css = testapp.get("/static/minimart.css", status=200)
    assert css.content_type == "text/css"
    assert "http" not in css.text and "@import" not in css.text


def test_api_errors_keep_the_json_envelope_beside_the_html_pages(testapp):
    for path, status in (("/api/v1/no-such-thing", 404), ("/api/v1/accounts/me", 401)):
        response = testapp.get(path, headers={"Accept": "text/html"}, status=status)
        assert response.content_type == "application/json"
        assert set(response.json["error"]) == {"code", "message", "details"}
    assert testapp.post("/healthz", status=405).content_type == "application/json"
    for path in ("/images/nope", "/images/..%2F..%2Fetc%2Fpasswd"):
        assert testapp.get(path, status=404).content_type == "application/json"


def test_a_wrong_method_on_a_page_answers_an_html_405(testapp):
    page = testapp.put("/login", status=405)
    assert page.content_type == "text/html"
    assert set(page.headers["Allow"].split(", ")) == {"GET", "HEAD", "POST"}


def test_a_failure_behind_a_page_answers_an_html_page_not_json(app, testapp, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("simulated bug")

    services_type = type(app.registry.container.services(None))
    monkeypatch.setattr(services_type, "catalog_reads", property(broken))
    monkeypatch.setattr(services_type, "catalog", property(broken))
    response = testapp.get("/", status=500)
    assert response.content_type == "text/html"
    assert "nothing was changed" in response.text


# --- abuse: sign-ups per address, hashing slots ------------------------------------------------

@pytest.fixture
def app_settings(app_settings):
    """Two sign-ups an hour per address and one hashing slot with a short wait. Webtest sends
    no client address unless a test gives one, so the other tests are not limited."""
    return {**app_settings, "minimart.registration.max_per_address": "2",
            "minimart.argon2.max_concurrent": "1", "minimart.argon2.max_wait_seconds": "0.05"}


def sign_up_page(app, n: int, status: int):
    """A visitor at 203.0.113.7 fills in the sign-up form; the answer."""
    visitor = TestApp(app, extra_environ={"REMOTE_ADDR": "203.0.113.7"})
    form = visitor.get("/register").forms["register-form"]
    form["name"], form["email"], form["password"] = f"Eve {n}", f"eve{n}@example.com", PASSWORD
    return form.submit(status=status)


def test_the_sign_up_page_past_the_limit_says_when_to_try_again(app, in_transaction):
    for n in range(2):
        sign_up_page(app, n, status=303)

    page = sign_up_page(app, 2, status=429)

    assert form_alert(page) == ("Too many accounts were created from your network just now; "
                                "please try again in 60 minutes.")
    assert 3590 <= int(page.headers["Retry-After"]) <= 3601
    assert page.forms["register-form"]["email"].value == "eve2@example.com"
    with pytest.raises(NotFound):
        in_transaction(lambda s: s.accounts.find_by_email("eve2@example.com"))


def test_the_sign_up_page_says_so_when_every_hashing_slot_is_busy(app, in_transaction):
    with app.registry.container.adapters.hasher.slot():
        page = sign_up_page(app, 0, status=503)

    assert "busy checking passwords" in form_alert(page)
    with pytest.raises(NotFound):
        in_transaction(lambda s: s.accounts.find_by_email("eve0@example.com"))
    sign_up_page(app, 0, status=303)

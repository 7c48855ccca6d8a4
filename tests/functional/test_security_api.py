"""Attacks over HTTP, on SQLite and PostgreSQL: password guessing (429 with Retry-After),
stolen tokens after a password change, two-factor sign-in, role escalation, reading other
shoppers' orders, injection payloads, and the audit trail that records every change."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlparse

import jwt
import pyotp
import pytest
from sqlalchemy import func, select

from minimart.adapters.sqlalchemy.tables import accounts, audit_events, login_failures
from tests.functional.conftest import PASSWORD
from tests.functional.envelope import assert_error

ACCOUNTS = "/api/v1/accounts"
TOKEN = "/api/v1/auth/token"
ME = "/api/v1/accounts/me"
CHANGE_PASSWORD = "/api/v1/accounts/me/password"
TOTP = "/api/v1/auth/totp"
TOTP_CONFIRM = "/api/v1/auth/totp/confirm"
ITEMS = "/api/v1/items"
ORDERS = "/api/v1/orders"
STORE = "/api/v1/store"
AUDIT = "/api/v1/audit-events"
NEW_PASSWORD = "a brand new passphrase 42"
ATTACKER = "203.0.113.7"
NEIGHBOUR = "198.51.100.2"


@pytest.fixture
def app_settings(app_settings: dict[str, Any]) -> dict[str, Any]:
    """Small sign-in limits, so a test reaches them in a few requests."""
    return {**app_settings, "minimart.login.max_failures_per_account": "3",
            "minimart.login.max_failures_per_address": "6"}


# --- helpers -----------------------------------------------------------------------------------



def sign_in(testapp: Any, email: str, password: str = PASSWORD, status: int = 200,
            address: str | None = None, otp: str | None = None) -> Any:
    body = {"email": email, "password": password}
    if otp is not None:
        body["otp"] = otp
    environ = {"REMOTE_ADDR": address} if address else None
    return testapp.post_json(TOKEN, body, status=status, extra_environ=environ)


def fail(testapp: Any, email: str, times: int = 1, address: str | None = None) -> None:
    for _ in range(times):
        response = sign_in(testapp, email, "not the password", status=401, address=address)
        assert_error(response, 401, "invalid_credentials")


def assert_rate_limited(response: Any) -> int:
    error = assert_error(response, 429, "rate_limited")
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= 15 * 60 + 1
    assert error["details"] == {"retry_after": retry_after}
    return retry_after


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def count(app: Any, table: Any, *where: Any) -> int:
    with app.registry.container.engine.connect() as connection:
        return connection.execute(
            select(func.count()).select_from(table).where(*where)).scalar_one()


def events(testapp: Any, admin: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    """Every audit event (newest first) the filters select, read page by page."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": 100, **params, **({"cursor": cursor} if cursor else {})}
        page = testapp.get(AUDIT, query, headers=admin).json
        found.extend(page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def with_request_id(headers: dict[str, str], request_id: str) -> dict[str, str]:
    return {**headers, "X-Request-ID": request_id}


@pytest.fixture
def admin(auth: Callable[[str], dict[str, str]]) -> dict[str, str]:
    return auth("admin")


@pytest.fixture
def staff(make_account: Callable[..., dict[str, str]]) -> dict[str, str]:
    return make_account("staff")


@pytest.fixture
def shopper(make_account: Callable[..., dict[str, str]]) -> dict[str, str]:
    return make_account("customer")


@pytest.fixture
def item(testapp: Any, staff: dict[str, str]) -> dict[str, Any]:
    return testapp.post_json(ITEMS, {"name": "Tea", "price": 250, "stock": 10},
                             headers=bearer(staff["token"]), status=201).json


def place_order(testapp: Any, who: dict[str, str], item_id: str, quantity: int = 1,
                **fields: Any) -> dict[str, Any]:
    body = {"lines": [{"item_id": item_id, "quantity": quantity}], **fields}
    return testapp.post_json(ORDERS, body, headers=bearer(who["token"]), status=201).json


# --- throttling --------------------------------------------------------------------------------

def test_too_many_failures_answer_429_with_retry_after_even_for_the_right_password(
        testapp, shopper):
    fail(testapp, shopper["email"], times=3)

    response = sign_in(testapp, shopper["email"], status=429)

    assert_rate_limited(response)
    assert "access_token" not in response.text


def test_three_failures_are_not_yet_throttled_but_the_fourth_attempt_is(testapp, shopper):
    fail(testapp, shopper["email"], times=2)
    sign_in(testapp, shopper["email"], "not the password", status=401)

    assert_rate_limited(sign_in(testapp, shopper["email"], "not the password", status=429))


def test_an_unknown_email_is_throttled_the_same_way(testapp, shopper):
    fail(testapp, "nobody@example.com", times=3)
    fail(testapp, shopper["email"], times=3)

    unknown = sign_in(testapp, "nobody@example.com", status=429)
    known = sign_in(testapp, shopper["email"], status=429)

    assert unknown.json == known.json
    assert unknown.headers["Retry-After"] == known.headers["Retry-After"]


def test_the_address_limit_stops_one_client_trying_many_emails(testapp, shopper):
    for n in range(6):
        fail(testapp, f"guess{n}@example.com", address=ATTACKER)

    assert_rate_limited(sign_in(testapp, shopper["email"], status=429, address=ATTACKER))
    assert_rate_limited(sign_in(testapp, "guess99@example.com", "x", status=429,
                                address=ATTACKER))


def test_the_address_limit_does_not_block_another_client(testapp, shopper):
    for n in range(6):
        fail(testapp, f"guess{n}@example.com", address=ATTACKER)

    token = sign_in(testapp, shopper["email"], address=NEIGHBOUR).json["access_token"]

    assert testapp.get(ME, headers=bearer(token)).json["email"] == shopper["email"]


def test_five_failures_from_one_client_still_let_it_sign_in(testapp, shopper):
    for n in range(5):
        fail(testapp, f"guess{n}@example.com", address=ATTACKER)

    sign_in(testapp, shopper["email"], address=ATTACKER)


def test_a_successful_sign_in_resets_the_accounts_failure_count(testapp, shopper):
    fail(testapp, shopper["email"], times=2)
    sign_in(testapp, shopper["email"])
    fail(testapp, shopper["email"], times=2)

    sign_in(testapp, shopper["email"])


def test_failures_are_counted_in_the_database(app, testapp, shopper):
    fail(testapp, shopper["email"], times=2, address=ATTACKER)

    with app.registry.container.engine.connect() as connection:
        rows = {row.key: row.count for row in connection.execute(
            select(login_failures.c.key, login_failures.c.count))}
    assert rows == {f"account:{shopper['email']} from:{ATTACKER}": 2, f"address:{ATTACKER}": 2}


def test_a_stranger_failing_on_an_account_does_not_lock_its_owner_out(testapp, shopper):
    """Owner emails are public: the delay falls on the guessing address only."""
    fail(testapp, shopper["email"], times=3, address=ATTACKER)
    assert_rate_limited(sign_in(testapp, shopper["email"], status=429, address=ATTACKER))

    sign_in(testapp, shopper["email"], address=NEIGHBOUR)


def test_successful_sign_ins_leave_only_the_earlier_failures_counted(app, testapp, shopper):
    """Each attempt is counted before its password is checked; a success clears its
    account's count and gives its address's attempt back, leaving no empty row behind."""
    fail(testapp, shopper["email"], times=2, address=ATTACKER)
    sign_in(testapp, shopper["email"], address=ATTACKER)
    sign_in(testapp, shopper["email"], address=NEIGHBOUR)

    with app.registry.container.engine.connect() as connection:
        rows = {row.key: row.count for row in connection.execute(
            select(login_failures.c.key, login_failures.c.count))}
    assert rows == {f"address:{ATTACKER}": 2}


# --- password change ---------------------------------------------------------------------------

def change_password(testapp: Any, token: str, current: str = PASSWORD,
                    new: str = NEW_PASSWORD, status: int = 204) -> Any:
    return testapp.post_json(CHANGE_PASSWORD, {"current_password": current,
                                               "new_password": new},
                             headers=bearer(token), status=status)


def test_a_password_change_revokes_the_old_token_and_only_the_new_password_works(
        testapp, shopper):
    response = change_password(testapp, shopper["token"])

    assert response.status_int == 204
    assert response.body == b""
    assert_error(testapp.get(ME, headers=bearer(shopper["token"]), status=401), 401,
                 "unauthenticated")
    assert_error(sign_in(testapp, shopper["email"], PASSWORD, status=401), 401,
                 "invalid_credentials")
    token = sign_in(testapp, shopper["email"], NEW_PASSWORD).json["access_token"]
    assert testapp.get(ME, headers=bearer(token)).json["id"] == shopper["id"]


def test_a_password_change_with_a_wrong_current_password_changes_nothing(testapp, shopper):
    response = change_password(testapp, shopper["token"], current="not the password",
                               status=401)

    assert_error(response, 401, "invalid_credentials")
    testapp.get(ME, headers=bearer(shopper["token"]))
    sign_in(testapp, shopper["email"], PASSWORD)


def test_a_weak_new_password_answers_422(testapp, shopper):
    error = assert_error(change_password(testapp, shopper["token"], new="short",
                                         status=422), 422, "validation_failed")

    assert "password" in error["details"]
    testapp.get(ME, headers=bearer(shopper["token"]))


@pytest.mark.parametrize("drop", [None, "exp"])
def test_a_token_without_an_expiry_is_refused(app, testapp, shopper, drop):
    token = sign_in(testapp, shopper["email"]).json["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    if drop:
        del claims[drop]
    forged = jwt.encode(claims, app.registry.container.settings.jwt_secret, algorithm="HS256")

    testapp.get(ME, headers=bearer(forged), status=401 if drop else 200)


def test_changing_a_password_needs_a_token(testapp):
    response = testapp.post_json(CHANGE_PASSWORD, {"current_password": PASSWORD,
                                                   "new_password": NEW_PASSWORD}, status=401)

    assert_error(response, 401, "unauthenticated")


def test_no_log_record_and_no_response_holds_a_password_or_a_token(testapp, shopper, caplog):
    caplog.set_level(logging.DEBUG)
    issued = sign_in(testapp, shopper["email"]).json["access_token"]
    changed = change_password(testapp, issued)
    fail(testapp, shopper["email"])
    again = sign_in(testapp, shopper["email"], NEW_PASSWORD)

    secrets = [PASSWORD, NEW_PASSWORD, "not the password", issued, shopper["token"]]
    for response in (changed, again):
        assert not any(s in response.text for s in secrets[:3])
    request_lines = [r for r in caplog.records if r.name == "minimart.requests"]
    assert len(request_lines) >= 4  # the capture saw the requests
    for record in caplog.records:
        text = " ".join([record.getMessage(), repr(record.args), record.exc_text or "",
                         repr(getattr(record, "__dict__", {}))])
        for secret in secrets:
            assert secret not in text, f"{record.name} logged a secret: {text[:300]}"


# --- two-factor sign-in ------------------------------------------------------------------------

def start_totp(testapp: Any, who: dict[str, str], password: str = PASSWORD,
               status: int = 201) -> Any:
    return testapp.post_json(TOTP, {"password": password}, headers=bearer(who["token"]),
                             status=status)


def secret_of(otpauth_uri: str) -> str:
    parsed = urlparse(otpauth_uri)
    assert (parsed.scheme, parsed.netloc) == ("otpauth", "totp")
    return parse_qs(parsed.query)["secret"][0]


@pytest.fixture
def enrolled(testapp: Any, staff: dict[str, str]) -> tuple[pyotp.TOTP, list[str]]:
    """The staff account with two-factor sign-in confirmed, its TOTP and recovery codes."""
    body = start_totp(testapp, staff).json
    totp = pyotp.TOTP(secret_of(body["otpauth_uri"]))
    testapp.post_json(TOTP_CONFIRM, {"code": totp.now()}, headers=bearer(staff["token"]),
                      status=204)
    return totp, body["recovery_codes"]


def test_staff_start_totp_and_get_a_uri_and_ten_recovery_codes(testapp, staff):
    response = start_totp(testapp, staff)

    body = response.json
    assert set(body) == {"otpauth_uri", "recovery_codes"}
    assert len(secret_of(body["otpauth_uri"])) >= 16
    assert len(body["recovery_codes"]) == len(set(body["recovery_codes"])) == 10
    assert "no-store" in response.headers["Cache-Control"]


def test_starting_totp_needs_the_password(testapp, staff):
    assert_error(start_totp(testapp, staff, password="not the password", status=401), 401,
                 "invalid_credentials")


def test_customers_cannot_start_totp(testapp, shopper):
    assert_error(start_totp(testapp, shopper, status=403), 403, "forbidden")


def test_recovery_codes_are_not_stored_in_the_clear(app, testapp, staff):
    codes = start_totp(testapp, staff).json["recovery_codes"]

    with app.registry.container.engine.connect() as connection:
        row = connection.execute(select(accounts).where(accounts.c.id == staff["id"])).one()
    stored = repr(tuple(row))
    assert not any(code in stored or code.replace("-", "") in stored for code in codes)


def test_totp_is_not_asked_until_confirmed(testapp, staff):
    start_totp(testapp, staff)

    sign_in(testapp, staff["email"])


def test_a_wrong_confirmation_code_answers_422_and_enables_nothing(testapp, staff):
    body = start_totp(testapp, staff).json
    right = pyotp.TOTP(secret_of(body["otpauth_uri"])).now()
    wrong = f"{(int(right) + 500_000) % 1_000_000:06d}"

    response = testapp.post_json(TOTP_CONFIRM, {"code": wrong},
                                 headers=bearer(staff["token"]), status=422)

    assert_error(response, 422, "validation_failed")
    sign_in(testapp, staff["email"])


def test_after_confirming_the_password_alone_answers_otp_required(testapp, staff, enrolled):
    response = sign_in(testapp, staff["email"], status=401)

    assert_error(response, 401, "otp_required")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "access_token" not in response.text


def test_the_password_and_the_current_code_sign_in(testapp, staff, enrolled):
    totp, _ = enrolled

    token = sign_in(testapp, staff["email"], otp=totp.now()).json["access_token"]

    assert testapp.get(ME, headers=bearer(token)).json["id"] == staff["id"]


def test_a_wrong_code_answers_invalid_credentials(testapp, staff, enrolled):
    totp, _ = enrolled
    wrong = f"{(int(totp.now()) + 500_000) % 1_000_000:06d}"

    assert_error(sign_in(testapp, staff["email"], otp=wrong, status=401), 401,
                 "invalid_credentials")


def test_a_totp_code_signs_in_once_only(testapp, staff, enrolled):
    totp, _ = enrolled
    code = totp.now()

    sign_in(testapp, staff["email"], otp=code)
    again = sign_in(testapp, staff["email"], otp=code, status=401)
    wrong_password = sign_in(testapp, staff["email"], "not the password", otp=code, status=401)

    assert_error(again, 401, "otp_used")
    assert "already used" in again.json["error"]["message"]
    assert_error(wrong_password, 401, "invalid_credentials")


@pytest.mark.parametrize("code", [
    "\u0661\u0662\u0663\u0664\u0665\u0666",  # Arabic-Indic
    "\uff11\uff12\uff13\uff14\uff15\uff16",  # full-width
    "\u00b9\u00b2\u00b3\u2074\u2075\u2076",  # superscript
])
def test_a_code_of_non_ascii_digits_is_a_counted_failure(app, testapp, staff, enrolled, code):
    refused = sign_in(testapp, staff["email"], otp=code, status=401, address=ATTACKER)

    assert_error(refused, 401, "invalid_credentials")
    assert count(app, login_failures, login_failures.c.key == f"address:{ATTACKER}") == 1


def test_a_recovery_code_signs_in_once_only(testapp, staff, enrolled):
    _, codes = enrolled

    sign_in(testapp, staff["email"], otp=codes[3])
    again = sign_in(testapp, staff["email"], otp=codes[3], status=401)

    assert_error(again, 401, "invalid_credentials")
    sign_in(testapp, staff["email"], otp=codes[4])


# --- role escalation ---------------------------------------------------------------------------

@pytest.mark.parametrize("extra", [{"role": "admin"}, {"role": "staff"},
                                   {"token_generation": 5}, {"totp_enabled": False},
                                   {"disabled": False}])
def test_registration_refuses_fields_that_would_choose_privileges(app, testapp, extra):
    body = {"email": "climber@example.com", "password": PASSWORD, "name": "Climber", **extra}

    error = assert_error(testapp.post_json(ACCOUNTS, body, status=422), 422,
                         "validation_failed")

    assert set(error["details"]) == set(extra)
    assert count(app, accounts, accounts.c.email == "climber@example.com") == 0


def test_a_customer_cannot_change_an_item(testapp, shopper, item):
    response = testapp.patch_json(f"{ITEMS}/{item['id']}", {"price": 1},
                                  headers=bearer(shopper["token"]), status=403)

    assert_error(response, 403, "forbidden")
    assert testapp.get(f"{ITEMS}/{item['id']}").json["price"] == 250


@pytest.mark.parametrize("role", ["customer", "staff"])
def test_only_admins_refund_orders(testapp, make_account, item, role):
    buyer = make_account("customer")
    order = place_order(testapp, buyer, item["id"], payment_method="pm_card_visa")
    who = make_account(role) if role == "staff" else buyer

    response = testapp.post_json(f"{ORDERS}/{order['id']}/refund", {},
                                 headers=bearer(who["token"]), status=403)

    assert_error(response, 403, "forbidden")
    assert testapp.get(f"{ORDERS}/{order['id']}",
                       headers=bearer(buyer["token"])).json["status"] == "paid"


@pytest.mark.parametrize("role", ["customer", "staff"])
def test_only_admins_read_the_audit_trail(testapp, auth, role):
    assert_error(testapp.get(AUDIT, headers=auth(role), status=403), 403, "forbidden")


def test_anonymous_callers_cannot_read_the_audit_trail(testapp):
    assert_error(testapp.get(AUDIT, status=401), 401, "unauthenticated")


@pytest.mark.parametrize("role", ["customer", "staff"])
def test_only_admins_change_the_store(testapp, auth, role):
    response = testapp.patch_json(STORE, {"delivery_fee": 0}, headers=auth(role), status=403)

    assert_error(response, 403, "forbidden")


# --- insecure direct object references ---------------------------------------------------------

def test_a_customer_cannot_read_or_cancel_another_customers_order(testapp, make_account, item):
    owner, other = make_account("customer"), make_account("customer")
    order = place_order(testapp, owner, item["id"])
    url = f"{ORDERS}/{order['id']}"

    assert_error(testapp.get(url, headers=bearer(other["token"]), status=404), 404,
                 "not_found")
    assert_error(testapp.post_json(f"{url}/cancel", {}, headers=bearer(other["token"]),
                                   status=404), 404, "not_found")
    listed = testapp.get(ORDERS, {"customer_id": owner["id"]},
                         headers=bearer(other["token"])).json["data"]
    assert listed == []
    assert testapp.get(url, headers=bearer(owner["token"])).json["status"] == "pending_payment"


def test_another_customers_order_looks_exactly_like_a_missing_one(testapp, make_account, item):
    owner, other = make_account("customer"), make_account("customer")
    order = place_order(testapp, owner, item["id"])

    theirs = testapp.get(f"{ORDERS}/{order['id']}", headers=bearer(other["token"]),
                         status=404)
    missing = testapp.get(f"{ORDERS}/no-such-order", headers=bearer(other["token"]),
                          status=404)

    assert theirs.json == missing.json


# --- injection payloads ------------------------------------------------------------------------

PAYLOADS = [
    "' OR 1=1 --",
    "'; DROP TABLE items; --",
    "<script>alert(1)</script>",
    "\" onmouseover=\"alert(1)",
    "{{7*7}} ${7*7} %s %n",
    "%_\\%",
    "Ω≈ç√ \U0001d518\U0001d52b\U0001d526\U0001d520\U0001d52c\U0001d521\U0001d522"
    " 🍵🧪 \u202egnp.exe \u200b\u0301",
]
LONG_UNICODE = ("\U0001d518🍵é\u0301ß\u202e日本" * 1000)[:5000]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_hostile_item_text_is_stored_and_returned_verbatim(testapp, staff, payload):
    created = testapp.post_json(ITEMS, {"name": payload[:120], "description": payload,
                                        "price": 100}, headers=bearer(staff["token"]),
                                status=201).json

    fetched = testapp.get(f"{ITEMS}/{created['id']}").json
    assert (fetched["name"], fetched["description"]) == (payload[:120], payload)
    assert testapp.get(ITEMS).json["data"][0]["description"] == payload


def test_a_long_unicode_description_and_name_are_stored_verbatim(testapp, staff):
    name = LONG_UNICODE[:120]
    created = testapp.post_json(ITEMS, {"name": name, "description": LONG_UNICODE,
                                        "price": 100}, headers=bearer(staff["token"]),
                                status=201).json

    fetched = testapp.get(f"{ITEMS}/{created['id']}").json
    assert (fetched["name"], fetched["description"]) == (name, LONG_UNICODE)
    patched = testapp.patch_json(f"{ITEMS}/{created['id']}", {"name": PAYLOADS[0]},
                                 headers=bearer(staff["token"])).json
    assert patched["name"] == PAYLOADS[0]


NUL = "nul\x00byte"
NUL_REQUESTS = [
    ("item name", "post", ITEMS, {"name": NUL, "price": 100}, "staff", (201, 422)),
    ("item description", "post", ITEMS, {"name": "Jam", "description": NUL, "price": 100},
     "staff", (201, 422)),
    ("registration name", "post", ACCOUNTS,
     {"email": "nul@example.com", "password": PASSWORD, "name": NUL}, None, (201, 422)),
    ("sign-in email", "post", TOKEN, {"email": "a\x00@example.com", "password": PASSWORD},
     None, (401, 422)),
    ("sign-in password", "post", TOKEN, {"email": "a@example.com", "password": NUL},
     None, (401, 422)),
    ("search", "get", ITEMS, {"q": NUL}, None, (200, 400, 422)),
    ("search for nul alone", "get", ITEMS, {"q": "\x00"}, None, (200, 400, 422)),
]


@pytest.mark.parametrize(("name", "method", "path", "body", "role", "allowed"), NUL_REQUESTS,
                         ids=[r[0] for r in NUL_REQUESTS])
def test_a_nul_character_is_refused_or_kept_never_a_server_error(
        testapp, auth, name, method, path, body, role, allowed):
    """PostgreSQL text cannot hold NUL: the API must say 422 (or keep it), not answer 500;
    and a search for NUL finds nothing rather than everything."""
    testapp.post_json(ITEMS, {"name": "Plain tea", "price": 100}, headers=auth("staff"),
                      status=201)
    headers = auth(role) if role else {}
    if method == "get":
        response = testapp.get(path, body, headers=headers, expect_errors=True)
    else:
        response = testapp.post_json(path, body, headers=headers, expect_errors=True)

    assert response.status_int in allowed, response.body[:300]
    if response.status_int == 200:
        assert response.json["data"] == []


def test_like_wildcards_in_search_match_only_themselves(testapp, staff):
    for name in ("100% juice", "Plain tea", "snake_case"):
        testapp.post_json(ITEMS, {"name": name, "price": 100},
                          headers=bearer(staff["token"]), status=201)

    def names(q: str) -> list[str]:
        return [i["name"] for i in testapp.get(ITEMS, {"q": q}).json["data"]]

    assert names("%") == ["100% juice"]
    assert names("_") == ["snake_case"]
    assert names("' OR 1=1 --") == []


def test_a_search_for_a_stored_payload_finds_exactly_that_item(testapp, staff):
    for payload in PAYLOADS[:3]:
        testapp.post_json(ITEMS, {"name": payload, "price": 100},
                          headers=bearer(staff["token"]), status=201)

    found = testapp.get(ITEMS, {"q": "' or 1=1"}).json["data"]

    assert [i["name"] for i in found] == ["' OR 1=1 --"]


@pytest.mark.parametrize("name", [*PAYLOADS, LONG_UNICODE[:120]])
def test_hostile_registration_names_are_stored_verbatim(testapp, name):
    body = {"email": "odd@example.com", "password": PASSWORD, "name": name}

    created = testapp.post_json(ACCOUNTS, body, status=201).json
    token = sign_in(testapp, "odd@example.com").json["access_token"]

    assert created["name"] == name.strip()
    assert testapp.get(ME, headers=bearer(token)).json["name"] == name.strip()


@pytest.mark.parametrize("email", ["' OR 1=1 --", "admin@example.com' --",
                                   "<script>@example.com"])
def test_hostile_sign_in_emails_are_just_wrong_credentials(testapp, shopper, email):
    assert_error(sign_in(testapp, email, status=401), 401, "invalid_credentials")


# --- the audit trail over HTTP -----------------------------------------------------------------

def one_event(testapp: Any, admin: dict[str, str], request_id: str) -> dict[str, Any]:
    [found] = [e for e in events(testapp, admin) if e["request_id"] == request_id]
    return found


def test_item_and_stock_changes_are_audited_with_actor_request_and_changes(
        testapp, admin, staff):
    headers = bearer(staff["token"])
    created = testapp.post_json(ITEMS, {"name": "Tea", "price": 250, "stock": 10},
                                headers=with_request_id(headers, "req-item-create"),
                                status=201).json
    testapp.patch_json(f"{ITEMS}/{created['id']}", {"price": 300, "name": "Green tea"},
                       headers=with_request_id(headers, "req-item-patch"))
    testapp.post_json(f"{ITEMS}/{created['id']}/stock-adjustments",
                      {"delta": 5, "reason": "delivery"},
                      headers=with_request_id(headers, "req-stock"), status=201)

    create = one_event(testapp, admin, "req-item-create")
    assert (create["action"], create["entity_type"], create["entity_id"],
            create["actor_id"]) == ("item.created", "item", created["id"], staff["id"])
    assert create["changes"]["name"] == [None, "Tea"]
    assert create["changes"]["price"] == [None, 250]
    patch = one_event(testapp, admin, "req-item-patch")
    assert (patch["action"], patch["actor_id"]) == ("item.updated", staff["id"])
    assert patch["changes"] == {"price": [250, 300], "name": ["Tea", "Green tea"]}
    stock = one_event(testapp, admin, "req-stock")
    assert stock["action"] == "item.stock_adjusted"
    assert stock["changes"]["stock"] == [10, 15]
    assert set(stock) == {"id", "at", "actor_id", "action", "entity_type", "entity_id",
                          "changes", "request_id"}


def test_orders_and_accounts_are_audited(testapp, admin, item):
    registered = testapp.post_json(ACCOUNTS, {"email": "new@example.com", "password": PASSWORD,
                                              "name": "New"},
                                   headers={"X-Request-ID": "req-register"}, status=201).json
    token = sign_in(testapp, "new@example.com").json["access_token"]
    order = testapp.post_json(ORDERS, {"lines": [{"item_id": item["id"], "quantity": 2}]},
                              headers=with_request_id(bearer(token), "req-order"),
                              status=201).json
    testapp.post_json(f"{ORDERS}/{order['id']}/cancel", {},
                      headers=with_request_id(bearer(token), "req-cancel"))
    testapp.post_json(CHANGE_PASSWORD, {"current_password": PASSWORD,
                                        "new_password": NEW_PASSWORD},
                      headers=with_request_id(bearer(token), "req-password"), status=204)

    account = one_event(testapp, admin, "req-register")
    assert (account["action"], account["entity_id"], account["actor_id"]) == (
        "account.created", registered["id"], registered["id"])
    assert account["changes"]["role"] == [None, "customer"]
    placed = one_event(testapp, admin, "req-order")
    assert (placed["action"], placed["entity_type"], placed["entity_id"],
            placed["actor_id"]) == ("order.placed", "order", order["id"], registered["id"])
    cancelled = one_event(testapp, admin, "req-cancel")
    assert cancelled["changes"]["status"] == ["pending_payment", "cancelled"]
    password = one_event(testapp, admin, "req-password")
    assert password["action"] == "account.password_changed"
    assert PASSWORD not in json.dumps(password)
    assert NEW_PASSWORD not in json.dumps(password)


def test_an_event_names_the_request_id_the_response_carried(testapp, admin, staff):
    response = testapp.post_json(ITEMS, {"name": "Jam", "price": 300},
                                 headers={**bearer(staff["token"]),
                                          "X-Request-ID": "not sane\tid"}, status=201)

    request_id = response.headers["X-Request-ID"]
    assert request_id != "not sane\tid"
    assert one_event(testapp, admin, request_id)["entity_id"] == response.json["id"]


def test_the_trail_is_newest_first(testapp, admin, staff):
    for n in range(3):
        testapp.post_json(ITEMS, {"name": f"Item {n}", "price": 100},
                          headers=bearer(staff["token"]), status=201)

    listed = events(testapp, admin)

    stamps = [(e["at"], e["id"]) for e in listed]
    assert stamps == sorted(stamps, reverse=True)
    assert [e["changes"]["name"][1] for e in listed if e["action"] == "item.created"] == [
        "Item 2", "Item 1", "Item 0"]


def test_the_trail_filters_by_entity_type_entity_id_and_actor(testapp, admin, make_account,
                                                             item):
    clerk = make_account("staff")
    other = testapp.post_json(ITEMS, {"name": "Jam", "price": 300},
                              headers=bearer(clerk["token"]), status=201).json
    testapp.patch_json(f"{ITEMS}/{other['id']}", {"price": 301},
                       headers=bearer(clerk["token"]))

    by_type = events(testapp, admin, entity_type="item")
    by_id = events(testapp, admin, entity_id=other["id"])
    by_actor = events(testapp, admin, actor_id=clerk["id"])
    combined = events(testapp, admin, entity_type="account", actor_id=clerk["id"])

    assert {e["entity_id"] for e in by_type} == {item["id"], other["id"]}
    assert [e["action"] for e in by_id] == ["item.updated", "item.created"]
    assert [e["entity_id"] for e in by_actor] == [other["id"], other["id"]]
    assert combined == []
    assert {e["entity_type"] for e in events(testapp, admin)} >= {"item", "account"}


def test_the_trail_pages_through_every_event_once(testapp, admin, staff):
    for n in range(5):
        testapp.post_json(ITEMS, {"name": f"Item {n}", "price": 100},
                          headers=bearer(staff["token"]), status=201)
    everything = [e["id"] for e in events(testapp, admin)]

    seen: list[str] = []
    cursor = None
    for _ in range(len(everything) + 1):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = testapp.get(AUDIT, params, headers=admin).json
        assert len(page["data"]) <= 2
        seen.extend(e["id"] for e in page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == everything
    assert len(everything) >= 7


def forged(*parts: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


@pytest.mark.parametrize("params", [
    {"limit": 1000}, {"limit": 0}, {"limit": "ten"},
    {"cursor": "not a cursor"}, {"cursor": forged("audit", "yesterday", "x")},
    {"cursor": forged("audit", "2026-01-01T00:00:00", "x")},
    {"cursor": forged("orders", "2026-01-01T00:00:00+00:00", "x")},
    {"cursor": forged("audit", "2026-01-01T00:00:00+00:00", "x" * 65)},
    {"cursor": forged("audit", "2026-01-01T00:00:00+00:00")},
    {"cursor": "W10"}, {"cursor": "x" * 2001},
], ids=["limit-1000", "limit-0", "limit-text", "garbage", "bad-time", "naive-time",
        "other-listing", "long-id", "short", "empty-list", "overlong"])
def test_unreadable_trail_parameters_answer_422(testapp, admin, params):
    assert_error(testapp.get(AUDIT, params, headers=admin, status=422), 422,
                 "validation_failed")


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_nothing_edits_or_deletes_the_trail_over_the_api(app, testapp, admin, staff, method):
    before = count(app, audit_events)
    event_id = events(testapp, admin)[0]["id"]

    response = getattr(testapp, method)(AUDIT, headers=admin, status=405)
    detail = getattr(testapp, method)(f"{AUDIT}/{event_id}", headers=admin, expect_errors=True)

    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]
    assert detail.status_int in (404, 405)
    assert count(app, audit_events) == before


REJECTED = [
    ("stock below zero", "post", "{item}/stock-adjustments", {"delta": -11, "reason": "x"},
     409),
    ("invalid item", "post", ITEMS, {"name": "", "price": -1}, 422),
    ("no such category", "post", ITEMS, {"name": "Jam", "price": 1, "category_id": "nope"},
     422),
    ("sku taken", "patch", "{item}", {"sku": "TAKEN-1"}, 409),
    ("unknown field", "patch", "{item}", {"price": 1, "archived": True}, 422),
    ("stale etag", "patch", "{item}", {"price": 1}, 412),
    ("no such item", "patch", ITEMS + "/missing", {"price": 1}, 404),
]


@pytest.mark.parametrize(("name", "method", "path", "body", "status"), REJECTED,
                         ids=[r[0] for r in REJECTED])
def test_a_rejected_change_leaves_no_audit_event(app, testapp, staff, item, name, method,
                                                 path, body, status):
    headers = bearer(staff["token"])
    testapp.post_json(ITEMS, {"name": "Other", "price": 1, "sku": "TAKEN-1"},
                      headers=headers, status=201)
    if status == 412:
        headers = {**headers, "If-Match": '"v999"'}
    before = count(app, audit_events)

    response = getattr(testapp, f"{method}_json")(
        path.format(item=f"{ITEMS}/{item['id']}"), body,
        headers=with_request_id(headers, "req-rejected"), status=status)

    assert response.status_int == status
    assert count(app, audit_events) == before
    assert count(app, audit_events, audit_events.c.request_id == "req-rejected") == 0


def test_a_refused_order_leaves_no_audit_event(app, testapp, shopper, item):
    before = count(app, audit_events)

    testapp.post_json(ORDERS, {"lines": [{"item_id": item["id"], "quantity": 11}]},
                      headers=bearer(shopper["token"]), status=409)
    testapp.post_json(f"{ORDERS}/missing/cancel", {}, headers=bearer(shopper["token"]),
                      status=404)

    assert count(app, audit_events) == before


def test_failed_sign_ins_and_refused_registrations_leave_no_audit_event(app, testapp,
                                                                       shopper):
    before = count(app, audit_events)

    fail(testapp, shopper["email"])
    testapp.post_json(ACCOUNTS, {"email": shopper["email"], "password": PASSWORD,
                                 "name": "Twin"}, status=409)
    change_password(testapp, shopper["token"], current="wrong password", status=401)

    assert count(app, audit_events) == before


COMMITTED = [
    ("create item", "post", ITEMS, {"name": "Jam", "price": 300}, 201, "item.created"),
    ("patch item", "patch", "{item}", {"price": 999}, 200, "item.updated"),
    ("adjust stock", "post", "{item}/stock-adjustments", {"delta": -3, "reason": "broken"},
     201, "item.stock_adjusted"),
    ("archive item", "delete", "{item}", None, 204, "item.archived"),
    ("place order", "post", ORDERS, {"lines": [{"item_id": "{item_id}", "quantity": 1}]},
     201, "order.placed"),
    ("cancel order", "post", "{order}/cancel", {}, 200, "order.cancelled"),
    ("refund order", "post", "{paid}/refund", {}, 200, "order.refunded"),
    ("fulfil order", "post", "{paid}/fulfil", {}, 200, "order.fulfilled"),
    ("change password", "post", CHANGE_PASSWORD,
     {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, 204,
     "account.password_changed"),
    ("register", "post", ACCOUNTS, {"email": "x@example.com", "password": PASSWORD,
                                    "name": "X"}, 201, "account.created"),
]


@pytest.mark.parametrize(("name", "method", "path", "body", "status", "action"), COMMITTED,
                         ids=[c[0] for c in COMMITTED])
def test_every_committed_change_leaves_exactly_one_audit_event(
        app, testapp, make_account, item, name, method, path, body, status, action):
    admin = make_account("admin")
    order = place_order(testapp, admin, item["id"])
    paid = place_order(testapp, admin, item["id"], payment_method="pm_card_visa")
    urls = {"item": f"{ITEMS}/{item['id']}", "order": f"{ORDERS}/{order['id']}",
            "paid": f"{ORDERS}/{paid['id']}"}
    if body is not None:
        body = json.loads(json.dumps(body).replace("{item_id}", item["id"]))
    headers = with_request_id(bearer(admin["token"]), "req-committed")
    url = path.format(**urls)

    if body is None:
        getattr(testapp, method)(url, headers=headers, status=status)
    else:
        getattr(testapp, f"{method}_json")(url, body, headers=headers, status=status)

    with app.registry.container.engine.connect() as connection:
        actions = connection.execute(select(audit_events.c.action).where(
            audit_events.c.request_id == "req-committed")).scalars().all()
    assert actions == [action]

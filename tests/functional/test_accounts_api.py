"""Accounts over HTTP: register, sign in for a bearer token, and read oneself (API.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from tests.functional.envelope import assert_error

ACCOUNTS = "/api/v1/accounts"
TOKEN = "/api/v1/auth/token"
ME = "/api/v1/accounts/me"
PASSWORD = "a long enough password"




def register(testapp: Any, email: str = "ann@example.com", password: str = PASSWORD,
             name: str = "Ann", status: int = 201, **extra: Any) -> Any:
    return testapp.post_json(ACCOUNTS, {"email": email, "password": password, "name": name,
                                        **extra}, status=status)


def sign_in(testapp: Any, email: str = "ann@example.com", password: str = PASSWORD,
            status: int = 200) -> Any:
    return testapp.post_json(TOKEN, {"email": email, "password": password}, status=status)


def account_count(app: Any) -> int:
    with app.registry.container.engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM accounts")).scalar_one()


def assert_utc_timestamp(value: str) -> None:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert moment.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - moment) < timedelta(minutes=5)


# --- POST /accounts ---------------------------------------------------------------------------

def test_register_answers_201_with_a_customer_account(testapp):
    response = register(testapp)
    body = response.json
    assert set(body) == {"id", "email", "name", "phone", "role", "created_at"}
    assert (body["email"], body["name"], body["role"]) == ("ann@example.com", "Ann", "customer")
    assert body["phone"] is None
    assert isinstance(body["id"], str)
    assert body["id"]
    assert_utc_timestamp(body["created_at"])


def test_register_never_answers_the_password_or_its_hash(testapp):
    raw = register(testapp).text
    assert PASSWORD not in raw
    assert "argon2" not in raw
    assert "password" not in raw


def test_the_password_is_stored_only_as_an_argon2id_hash(app, testapp):
    account_id = register(testapp).json["id"]
    with app.registry.container.engine.connect() as connection:
        stored = connection.execute(text("SELECT password_hash FROM accounts WHERE id = :id"),
                                    {"id": account_id}).scalar_one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


@pytest.mark.parametrize("role", ["admin", "staff", "customer"])
def test_a_role_in_the_registration_body_answers_422_and_creates_no_account(app, testapp,
                                                                             role):
    response = register(testapp, role=role, status=422)
    error = assert_error(response, 422, "validation_failed")
    assert "role" in error["details"]
    assert account_count(app) == 0
    assert_error(sign_in(testapp, status=401), 401, "invalid_credentials")
    assert register(testapp).json["role"] == "customer"


@pytest.mark.parametrize("field", ["id", "disabled", "created_at", "is_admin"])
def test_other_unknown_registration_fields_answer_422_naming_them(app, testapp, field):
    response = register(testapp, status=422, **{field: True})
    assert field in assert_error(response, 422, "validation_failed")["details"]
    assert account_count(app) == 0


@pytest.mark.parametrize("second", ["ann@example.com", "ANN@example.com", "Ann@Example.Com"])
def test_an_email_taken_in_any_case_answers_409_email_taken(app, testapp, second):
    register(testapp, email="ann@example.com")
    response = register(testapp, email=second, status=409)
    assert_error(response, 409, "email_taken")
    assert account_count(app) == 1


@pytest.mark.parametrize("look_alike", [
    "\uff41\uff4e\uff4e@example.com",  # full-width
    "ANN@\uff45xample.com",
])
def test_a_look_alike_of_a_taken_email_is_taken_and_signs_in_to_it(app, testapp, look_alike):
    register(testapp, email="ann@example.com")

    assert_error(register(testapp, email=look_alike, status=409), 409, "email_taken")
    assert account_count(app) == 1
    sign_in(testapp, look_alike)


@pytest.mark.parametrize("look_alike", ["\u0430nn@example.com", "ann@ex\u0430mple.com"])
def test_an_email_mixing_alphabets_is_refused(app, testapp, look_alike):
    register(testapp, email="ann@example.com")

    response = register(testapp, email=look_alike, status=422)

    assert "email" in assert_error(response, 422, "validation_failed")["details"]
    assert account_count(app) == 1


def test_an_email_registered_in_capitals_blocks_the_lower_case_one(testapp):
    register(testapp, email="BOB@EXAMPLE.COM")
    assert_error(register(testapp, email="bob@example.com", status=409), 409, "email_taken")


def test_a_password_under_10_characters_answers_422(app, testapp):
    response = register(testapp, password="x" * 9, status=422)
    assert "password" in assert_error(response, 422, "validation_failed")["details"]
    assert account_count(app) == 0


def test_a_password_of_exactly_10_characters_is_accepted(testapp):
    register(testapp, password="x" * 10)
    sign_in(testapp, password="x" * 10)


@pytest.mark.parametrize(("body", "field"), [
    ({"password": PASSWORD, "name": "Ann"}, "email"),
    ({"email": "ann@example.com", "name": "Ann"}, "password"),
    ({"email": "ann@example.com", "password": PASSWORD}, "name"),
    ({"email": "not-an-email", "password": PASSWORD, "name": "Ann"}, "email"),
    ({"email": "ann@example.com", "password": PASSWORD, "name": ""}, "name"),
    ({"email": "ann@example.com", "password": 1234567890123, "name": "Ann"}, "password"),
    ({"email": "ann@example.com", "password": "p" * 1025, "name": "Ann"}, "password"),
])
def test_invalid_registrations_answer_422_naming_the_field(app, testapp, body, field):
    response = testapp.post_json(ACCOUNTS, body, status=422)
    assert field in assert_error(response, 422, "validation_failed")["details"]
    assert account_count(app) == 0


def test_registration_needs_a_json_body(app, testapp):
    body = json.dumps({"email": "ann@example.com", "password": PASSWORD, "name": "Ann"})
    assert_error(testapp.post(ACCOUNTS, body, content_type="text/plain", status=415), 415,
                 "unsupported_media_type")
    assert_error(testapp.post(ACCOUNTS, "{", content_type="application/json", status=400),
                 400, "malformed_json")
    assert account_count(app) == 0


# --- POST /auth/token -------------------------------------------------------------------------

def test_sign_in_answers_a_bearer_token(testapp):
    register(testapp)
    response = sign_in(testapp)
    body = response.json
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert isinstance(body["access_token"], str)
    assert body["access_token"]
    assert isinstance(body["expires_in"], int)
    assert body["expires_in"] > 0
    assert "no-store" in response.headers.get("Cache-Control", "")


def test_the_token_opens_accounts_me(testapp):
    account = register(testapp).json
    token = sign_in(testapp).json["access_token"]
    me = testapp.get(ME, headers={"Authorization": f"Bearer {token}"}).json
    assert me == account


def test_sign_in_ignores_the_case_of_the_email(testapp):
    register(testapp, email="ann@example.com")
    sign_in(testapp, email="ANN@Example.com")


def test_wrong_password_and_unknown_email_get_the_same_401(testapp):
    register(testapp)
    wrong_password = sign_in(testapp, password="not the password", status=401)
    unknown_email = sign_in(testapp, email="nobody@example.com", status=401)
    assert_error(wrong_password, 401, "invalid_credentials")
    assert wrong_password.json == unknown_email.json
    assert wrong_password.headers.get("WWW-Authenticate") == \
        unknown_email.headers.get("WWW-Authenticate")


def test_a_disabled_account_cannot_sign_in(app, testapp):
    account_id = register(testapp).json["id"]
    with app.registry.container.engine.begin() as connection:
        connection.execute(text("UPDATE accounts SET disabled = :yes WHERE id = :id"),
                           {"yes": True, "id": account_id})
    response = sign_in(testapp, status=401)
    assert response.json == sign_in(testapp, email="nobody@example.com", status=401).json


@pytest.mark.parametrize(("body", "field"), [
    ({"password": PASSWORD}, "email"),
    ({"email": "ann@example.com"}, "password"),
    ({"email": "ann@example.com", "password": PASSWORD, "remember": True}, "remember"),
])
def test_invalid_sign_in_bodies_answer_422(testapp, body, field):
    response = testapp.post_json(TOKEN, body, status=422)
    assert field in assert_error(response, 422, "validation_failed")["details"]


def test_sign_in_needs_a_json_body(testapp):
    assert_error(testapp.post(TOKEN, {"email": "a@b.c", "password": PASSWORD}, status=415),
                 415, "unsupported_media_type")
    assert_error(testapp.post(TOKEN, "nope", content_type="application/json", status=400),
                 400, "malformed_json")


def test_token_endpoint_refuses_get(testapp):
    assert_error(testapp.get(TOKEN, status=405), 405, "method_not_allowed")


# --- GET /accounts/me -------------------------------------------------------------------------

def test_accounts_me_answers_the_signed_in_account(testapp, make_account):
    staff = make_account("staff", email="sam@example.com")
    body = testapp.get(ME, headers={"Authorization": staff["Authorization"]}).json
    assert set(body) == {"id", "email", "name", "phone", "role", "created_at"}
    assert (body["id"], body["email"], body["name"], body["phone"], body["role"]) == \
        (staff["id"], "sam@example.com", "Staff", None, "staff")
    assert_utc_timestamp(body["created_at"])


def test_accounts_me_without_a_token_answers_401(testapp):
    response = testapp.get(ME, status=401)
    assert_error(response, 401, "unauthenticated")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_accounts_me_role_is_not_writable(testapp, make_account):
    """PATCH changes the profile (test_account_profile_api.py); a role in it is refused."""
    headers = {"Authorization": make_account("customer")["Authorization"]}
    response = testapp.patch_json(ME, {"role": "admin"}, headers=headers, status=422)
    assert "role" in assert_error(response, 422, "validation_failed")["details"]
    response = testapp.put_json(ME, {"role": "admin"}, headers=headers, status=405)
    assert_error(response, 405, "method_not_allowed")
    assert testapp.get(ME, headers=headers).json["role"] == "customer"


def test_the_account_list_is_not_readable(testapp, make_account):
    headers = {"Authorization": make_account("admin")["Authorization"]}
    response = testapp.get(ACCOUNTS, headers=headers, status="*")
    assert response.status_int in {404, 405}
    assert response.json["error"]["code"] in {"not_found", "method_not_allowed"}


# --- abuse: sign-ups per address, hashing slots ------------------------------------------------

ATTACKER, NEIGHBOUR = "203.0.113.7", "198.51.100.2"


@pytest.fixture
def app_settings(app_settings: dict[str, Any]) -> dict[str, Any]:
    """Three sign-ups an hour per address, and a short wait for a hashing slot. Webtest
    sends no client address unless a test gives one, so other tests are not limited."""
    return {**app_settings, "minimart.registration.max_per_address": "3",
            "minimart.argon2.max_concurrent": "1", "minimart.argon2.max_wait_seconds": "0.05"}


def sign_up_from(testapp: Any, address: str, n: int, status: int = 201, **body: Any) -> Any:
    return testapp.post_json(ACCOUNTS, {"email": f"new{n}@example.com", "password": PASSWORD,
                                        "name": f"New {n}", **body},
                             status=status, extra_environ={"REMOTE_ADDR": address})


def counters(app: Any, table: str) -> dict[str, int]:
    with app.registry.container.engine.connect() as connection:
        return dict(connection.execute(text(f"SELECT key, count FROM {table}")).all())


def test_sign_ups_from_one_address_past_the_limit_answer_429_with_retry_after(app, testapp):
    for n in range(3):
        sign_up_from(testapp, ATTACKER, n)

    response = sign_up_from(testapp, ATTACKER, 3, status=429)

    error = assert_error(response, 429, "rate_limited")
    retry_after = int(response.headers["Retry-After"])
    assert 3590 <= retry_after <= 3601
    assert error["details"] == {"retry_after": retry_after}
    assert "try again in 60 minutes" in error["message"]
    assert account_count(app) == 3
    assert counters(app, "registration_attempts") == {f"address:{ATTACKER}": 3}
    assert counters(app, "login_failures") == {}


def test_the_sign_up_limit_of_one_address_leaves_another_address_alone(app, testapp):
    for n in range(3):
        sign_up_from(testapp, ATTACKER, n)
    sign_up_from(testapp, ATTACKER, 3, status=429)

    sign_up_from(testapp, NEIGHBOUR, 4)
    register(testapp, "no-address@example.com")  # no client address known: not limited

    assert account_count(app) == 5


def test_refused_sign_ups_count_too_so_probing_for_taken_emails_is_limited(app, testapp):
    register(testapp, "taken@example.com")
    for _ in range(3):
        assert_error(sign_up_from(testapp, ATTACKER, 0, status=409, email="Taken@example.com"),
                     409, "email_taken")

    assert_error(sign_up_from(testapp, ATTACKER, 1, status=429, email="Taken@example.com"),
                 429, "rate_limited")


def test_a_sign_up_that_finds_every_hashing_slot_busy_answers_503_and_keeps_nothing(
        app, testapp):
    with app.registry.container.adapters.hasher.slot():  # the only slot, held meanwhile
        response = sign_up_from(testapp, ATTACKER, 0, status=503)

    error = assert_error(response, 503, "unavailable")
    assert "busy" in error["message"]
    assert account_count(app) == 0
    assert counters(app, "registration_attempts") == {}
    sign_up_from(testapp, ATTACKER, 0)


def test_a_sign_in_that_finds_every_hashing_slot_busy_answers_503_and_counts_nothing(
        app, testapp):
    register(testapp)
    with app.registry.container.adapters.hasher.slot():
        response = testapp.post_json(TOKEN, {"email": "ann@example.com", "password": PASSWORD},
                                     status=503, extra_environ={"REMOTE_ADDR": ATTACKER})

    assert_error(response, 503, "unavailable")
    assert "access_token" not in response.text
    assert counters(app, "login_failures") == {}
    sign_in(testapp)


def test_the_openapi_document_names_429_for_registration(testapp):
    document = testapp.get("/api/v1/openapi.json").json
    responses = document["paths"]["/api/v1/accounts"]["post"]["responses"]

    assert responses["429"] == {"$ref": "#/components/responses/RateLimited"}
    assert responses["503"] == {"$ref": "#/components/responses/Unavailable"}

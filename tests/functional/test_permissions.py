"""Who may call what: the role x endpoint matrix, and every way a bearer token can be bad."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from sqlalchemy import text

from tests.conftest import TEST_JWT_SECRET
from tests.functional.envelope import assert_error

ITEMS = "/api/v1/items"
ME = "/api/v1/accounts/me"





def assert_unauthenticated(response: Any) -> None:
    assert_error(response, 401, "unauthenticated")
    assert response.headers["WWW-Authenticate"].split()[0] == "Bearer"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- the matrix --------------------------------------------------------------------------------

# (name, method, path template, JSON body or None, status when allowed)
ENDPOINTS = [
    ("create item", "post", ITEMS, {"name": "Jam", "price": 300}, 201),
    ("patch item", "patch", ITEMS + "/{id}", {"price": 1}, 200),
    ("delete item", "delete", ITEMS + "/{id}", None, 204),
    ("adjust stock", "post", ITEMS + "/{id}/stock-adjustments", {"delta": 1, "reason": "in"},
     201),
]
ENDPOINT_IDS = [e[0] for e in ENDPOINTS]


def call(testapp: Any, method: str, path: str, body: Any, headers: dict[str, str],
         status: int) -> Any:
    if body is None:
        return getattr(testapp, method)(path, headers=headers, status=status)
    return getattr(testapp, f"{method}_json")(path, body, headers=headers, status=status)


@pytest.fixture
def item(testapp: Any, auth: Any) -> dict[str, Any]:
    return testapp.post_json(ITEMS, {"name": "Tea", "price": 250, "stock": 3},
                             headers=auth("staff"), status=201).json


@pytest.fixture
def item_state(testapp: Any, auth: Any, item: dict[str, Any]) -> Any:
    """The item as staff sees it now (archived included), and the number of items."""
    staff = auth("staff")

    def state() -> tuple[dict[str, Any], int]:
        current = testapp.get(f"{ITEMS}/{item['id']}", headers=staff).json
        listed = testapp.get(ITEMS, {"include_archived": "true"}, headers=staff).json["data"]
        return current, len(listed)
    return state


@pytest.mark.parametrize(("name", "method", "path", "body", "allowed"), ENDPOINTS,
                         ids=ENDPOINT_IDS)
def test_anonymous_callers_get_401_with_www_authenticate_and_change_nothing(
        testapp, item, item_state, name, method, path, body, allowed):
    before = item_state()
    response = call(testapp, method, path.format(id=item["id"]), body, {}, 401)
    assert_unauthenticated(response)
    assert item_state() == before


@pytest.mark.parametrize(("name", "method", "path", "body", "allowed"), ENDPOINTS,
                         ids=ENDPOINT_IDS)
def test_customers_get_403_and_change_nothing(testapp, auth, item, item_state, name, method,
                                              path, body, allowed):
    before = item_state()
    response = call(testapp, method, path.format(id=item["id"]), body, auth("customer"), 403)
    assert_error(response, 403, "forbidden")
    assert "WWW-Authenticate" not in response.headers
    assert item_state() == before


@pytest.mark.parametrize("role", ["staff", "admin"])
@pytest.mark.parametrize(("name", "method", "path", "body", "allowed"), ENDPOINTS,
                         ids=ENDPOINT_IDS)
def test_staff_and_admins_are_allowed(testapp, auth, item, item_state, role, name, method,
                                      path, body, allowed):
    before = item_state()
    call(testapp, method, path.format(id=item["id"]), body, auth(role), allowed)
    assert item_state() != before


@pytest.mark.parametrize(("name", "method", "path", "body", "allowed"), ENDPOINTS,
                         ids=ENDPOINT_IDS)
def test_authorization_is_checked_before_the_body_is_read(testapp, auth, item, name, method,
                                                          path, body, allowed):
    url = path.format(id=item["id"])
    for headers, status in (({}, 401), (auth("customer"), 403)):
        response = getattr(testapp, method)(url, "{not json", headers=headers,
                                            content_type="application/json", status=status)
        assert response.json["error"]["code"] in {"unauthenticated", "forbidden"}


def test_anonymous_include_archived_is_not_an_error_but_shows_nothing_archived(
        testapp, auth, item):
    testapp.delete(f"{ITEMS}/{item['id']}", headers=auth("staff"), status=204)
    assert testapp.get(ITEMS, {"include_archived": "true"}).json["data"] == []


@pytest.mark.parametrize("role", ["customer", "staff", "admin"])
def test_every_role_reads_its_own_account(testapp, make_account, role):
    account = make_account(role)
    body = testapp.get(ME, headers={"Authorization": account["Authorization"]}).json
    assert (body["id"], body["email"], body["role"]) == (account["id"], account["email"], role)


def test_anonymous_accounts_me_answers_401_with_www_authenticate(testapp):
    assert_unauthenticated(testapp.get(ME, status=401))


def test_public_reads_need_no_token(testapp, item):
    testapp.get(ITEMS, status=200)
    testapp.get(f"{ITEMS}/{item['id']}", status=200)


# --- bad tokens -------------------------------------------------------------------------------

@pytest.fixture
def customer(make_account: Any) -> dict[str, str]:
    return make_account("customer")


def claims(account_id: str, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": account_id, "iat": now, "exp": now + 600, "gen": 0, **extra}


def test_a_token_built_here_with_the_test_secret_is_accepted(testapp, customer):
    """The control for the forgeries below: the same recipe with nothing wrong works."""
    token = jwt.encode(claims(customer["id"]), TEST_JWT_SECRET, algorithm="HS256")
    assert testapp.get(ME, headers=bearer(token)).json["id"] == customer["id"]


def test_an_expired_token_answers_401(testapp, customer):
    now = int(time.time())
    token = jwt.encode({"sub": customer["id"], "iat": now - 7200, "exp": now - 3600, "gen": 0},
                       TEST_JWT_SECRET, algorithm="HS256")
    assert_unauthenticated(testapp.get(ME, headers=bearer(token), status=401))


def test_a_token_signed_with_another_secret_answers_401(testapp, customer):
    token = jwt.encode(claims(customer["id"]), "another-secret-" + "y" * 40,
                       algorithm="HS256")
    assert_unauthenticated(testapp.get(ME, headers=bearer(token), status=401))


def test_a_token_signed_with_another_algorithm_answers_401(testapp, customer):
    token = jwt.encode(claims(customer["id"]), TEST_JWT_SECRET, algorithm="HS384")
    assert_unauthenticated(testapp.get(ME, headers=bearer(token), status=401))


def test_an_unsigned_alg_none_token_answers_401(testapp, customer):
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(claims(customer["id"])).encode())
    for token in (f"{header}.{payload}.", f"{header}.{payload}"):
        assert_unauthenticated(testapp.get(ME, headers=bearer(token), status=401))


def test_a_tampered_token_answers_401(testapp, make_account):
    customer, admin = make_account("customer"), make_account("admin")
    header, payload, signature = customer["token"].split(".")
    forged = json.loads(b64url_decode(payload))
    forged["sub"] = admin["id"]
    token = f"{header}.{b64url(json.dumps(forged).encode())}.{signature}"
    assert_unauthenticated(testapp.get(ME, headers=bearer(token), status=401))
    assert_unauthenticated(testapp.post_json(ITEMS, {"name": "X", "price": 1},
                                             headers=bearer(token), status=401))


def test_a_token_with_a_flipped_signature_character_answers_401(testapp, customer):
    token = customer["token"]
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    assert_unauthenticated(testapp.get(ME, headers=bearer(flipped), status=401))


def test_a_token_of_an_account_that_does_not_exist_answers_401(testapp):
    token = jwt.encode(claims("0" * 32), TEST_JWT_SECRET, algorithm="HS256")
    assert_unauthenticated(testapp.get(ME, headers=bearer(token), status=401))


@pytest.mark.parametrize("authorization", [
    "Bearer", "Bearer ", "Bearer not-a-jwt", "Bearer a.b.c", "Token abc",
    "Basic dXNlcjpwYXNz", "garbage",
])
def test_malformed_authorization_headers_answer_401(testapp, authorization):
    response = testapp.get(ME, headers={"Authorization": authorization}, status=401)
    assert_unauthenticated(response)


def test_a_token_in_a_cookie_is_not_used(testapp, customer):
    testapp.set_cookie("Authorization", customer["token"])
    testapp.set_cookie("auth_tkt", customer["token"])
    assert_unauthenticated(testapp.get(ME, status=401))


def test_a_token_of_an_account_disabled_later_answers_401(app, testapp, make_account):
    staff = make_account("staff")
    headers = {"Authorization": staff["Authorization"]}
    testapp.get(ME, headers=headers, status=200)
    with app.registry.container.engine.begin() as connection:
        connection.execute(text("UPDATE accounts SET disabled = :yes WHERE id = :id"),
                           {"yes": True, "id": staff["id"]})
    assert_unauthenticated(testapp.get(ME, headers=headers, status=401))
    assert_unauthenticated(testapp.post_json(ITEMS, {"name": "X", "price": 1},
                                             headers=headers, status=401))
    assert testapp.get(ITEMS).json["data"] == []


def test_a_forged_staff_token_grants_nothing_on_a_public_endpoint(testapp, make_account,
                                                                   item):
    """Whether a bad token on a public read answers 401 or as anonymous, it shows nothing
    archived: the staff privilege does not come with a forged token."""
    staff = make_account("staff")
    testapp.delete(f"{ITEMS}/{item['id']}", headers={"Authorization": staff["Authorization"]},
                   status=204)
    forged = jwt.encode(claims(staff["id"]), "wrong-secret-" + "z" * 40, algorithm="HS256")
    response = testapp.get(ITEMS, {"include_archived": "true"}, headers=bearer(forged),
                           status="*")
    if response.status_int == 401:
        assert_unauthenticated(response)
    else:
        assert response.status_int == 200
        assert response.json["data"] == []


def test_the_bearer_scheme_is_matched_case_insensitively(testapp, make_account):
    account = make_account("customer")
    response = testapp.get(ME, headers={"Authorization": f"bearer {account['token']}"})
    assert response.json["id"] == account["id"]


def test_a_token_without_its_generation_claim_answers_401(testapp, customer):
    token = jwt.encode({k: v for k, v in claims(customer["id"]).items() if k != "gen"},
                       TEST_JWT_SECRET, algorithm="HS256")
    assert_unauthenticated(testapp.get(ME, headers=bearer(token), status=401))

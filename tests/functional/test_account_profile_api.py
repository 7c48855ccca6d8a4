"""PATCH /api/v1/accounts/me: the owner changes their name and phone (API.md, Accounts)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.envelope import assert_error

ME = "/api/v1/accounts/me"
AUDIT = "/api/v1/audit-events"
PHONE = "+6591234567"


def patch_me(testapp: Any, who: Any, body: Any, status: int = 200) -> Any:
    return testapp.patch_json(ME, body, headers=who.headers, status=status)


def account_events(testapp: Any, admin: Any, account_id: str) -> list[dict[str, Any]]:
    page = testapp.get(AUDIT, {"entity_type": "account", "entity_id": account_id,
                               "limit": 100}, headers=admin.headers).json
    return [event for event in page["data"] if event["action"] == "account.updated"]


def test_patching_the_name_answers_200_with_the_account_and_get_shows_it(testapp, shopper):
    body = patch_me(testapp, shopper, {"name": "  Ann Lee "}).json

    assert set(body) == {"id", "email", "name", "phone", "role", "created_at"}
    assert (body["id"], body["name"], body["phone"]) == (shopper.id, "Ann Lee", None)
    assert testapp.get(ME, headers=shopper.headers).json == body


def test_patching_the_phone_answers_200_and_null_clears_it(testapp, shopper):
    assert patch_me(testapp, shopper, {"phone": PHONE}).json["phone"] == PHONE
    assert testapp.get(ME, headers=shopper.headers).json["phone"] == PHONE

    cleared = patch_me(testapp, shopper, {"phone": None}).json
    assert cleared["phone"] is None
    assert testapp.get(ME, headers=shopper.headers).json["phone"] is None


def test_both_fields_change_at_once_and_other_fields_stay(testapp, shopper):
    before = testapp.get(ME, headers=shopper.headers).json

    after = patch_me(testapp, shopper, {"name": "Bo", "phone": "+14155550123"}).json

    assert after == {**before, "name": "Bo", "phone": "+14155550123"}


@pytest.mark.parametrize("phone", [
    "6591234567", "+0591234567", "+6591 234567", "+65-9123-4567", "+1234567",
    "+1234567890123456", "+65912345678\n", "+\uff16\uff1591234567", "", 6591234567])
def test_a_phone_not_in_e164_form_answers_422_naming_it(testapp, shopper, phone):
    error = assert_error(patch_me(testapp, shopper, {"phone": phone}, status=422), 422,
                         "validation_failed")
    assert set(error["details"]) == {"phone"}
    assert testapp.get(ME, headers=shopper.headers).json["phone"] is None


@pytest.mark.parametrize(("body", "field"), [
    ({}, "_schema"),
    ({"email": "new@example.com"}, "email"),
    ({"role": "admin", "name": "Ann"}, "role"),
    ({"name": "x" * 121}, "name"),
    ({"name": ""}, "name"),
    ({"name": None}, "name"),
])
def test_bad_profile_changes_answer_422_naming_the_field_and_change_nothing(
        testapp, shopper, body, field):
    before = testapp.get(ME, headers=shopper.headers).json

    error = assert_error(patch_me(testapp, shopper, body, status=422), 422,
                         "validation_failed")

    assert field in error["details"]
    assert testapp.get(ME, headers=shopper.headers).json == before


def test_a_blank_name_is_refused_by_the_domain_rule(testapp, shopper):
    error = assert_error(patch_me(testapp, shopper, {"name": "   "}, status=422), 422,
                         "validation_failed")
    assert set(error["details"]) == {"name"}


def test_a_name_of_120_characters_is_accepted(testapp, shopper):
    assert patch_me(testapp, shopper, {"name": "x" * 120}).json["name"] == "x" * 120


def test_patching_without_a_token_answers_401(testapp):
    response = testapp.patch_json(ME, {"name": "Ann"}, status=401)
    assert_error(response, 401, "unauthenticated")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("role", ["customer", "staff", "admin"])
def test_every_role_may_change_its_own_profile(testapp, person, role):
    who = person(role)
    assert patch_me(testapp, who, {"phone": PHONE}).json["id"] == who.id


def test_a_change_is_audited_with_the_name_and_a_masked_phone(testapp, shopper, admin):
    patch_me(testapp, shopper, {"name": "Ann Lee", "phone": PHONE})
    patch_me(testapp, shopper, {"phone": "+14155550123"})
    patch_me(testapp, shopper, {"phone": None})

    cleared, changed, first = account_events(testapp, admin, shopper.id)  # newest first
    assert (first["actor_id"], first["entity_id"]) == (shopper.id, shopper.id)
    assert first["changes"] == {"name": ["Customer", "Ann Lee"], "phone": [None, "*"]}
    assert changed["changes"] == {"phone": ["*", "*"]}
    assert cleared["changes"] == {"phone": ["*", None]}
    raw = testapp.get(AUDIT, {"entity_id": shopper.id}, headers=admin.headers).text
    assert "91234567" not in raw
    assert "4155550123" not in raw


def test_a_change_to_the_same_values_answers_200_and_records_nothing(testapp, shopper, admin):
    patch_me(testapp, shopper, {"phone": PHONE})

    body = patch_me(testapp, shopper, {"phone": PHONE, "name": "Customer"}).json

    assert (body["name"], body["phone"]) == ("Customer", PHONE)
    assert len(account_events(testapp, admin, shopper.id)) == 1

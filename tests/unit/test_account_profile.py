"""AccountService.update_profile against the in-memory fakes: the owner's name and phone,
the domain's rules for every driver, the permission, and the audit event."""

from __future__ import annotations

from dataclasses import replace

import pytest

from minimart.domain.accounts import check_phone, masked_phone
from minimart.domain.actors import Actor, Role
from minimart.domain.errors import Forbidden, NotFound, ValidationFailed
from tests.fakes.wiring import fake_services

PASSWORD = "correct horse battery"
PHONE = "+6591234567"


@pytest.fixture
def services():
    return fake_services()


@pytest.fixture
def account(services):
    return services.accounts.register("sam@example.com", PASSWORD, "Sam",
                                      Actor.anonymous(request_id="req-1"))


@pytest.fixture
def owner(account):
    return Actor(account.id, Role.CUSTOMER, request_id="req-2")


def updates(services):
    return [e for e in services.uow.audit.events if e.action == "account.updated"]


def test_the_owner_sets_a_phone_and_it_is_saved(services, account, owner):
    updated = services.accounts.update_profile(account.id, {"phone": PHONE}, owner)

    assert updated == replace(account, phone=PHONE)
    assert services.uow.accounts.get(account.id) == updated


def test_the_name_is_changed_without_its_surrounding_spaces(services, account, owner):
    updated = services.accounts.update_profile(account.id, {"name": "  Samantha "}, owner)

    assert updated.name == "Samantha"
    assert services.uow.accounts.get(account.id).name == "Samantha"


def test_a_null_phone_clears_it(services, account, owner):
    services.accounts.update_profile(account.id, {"phone": PHONE}, owner)

    cleared = services.accounts.update_profile(account.id, {"phone": None}, owner)

    assert cleared.phone is None
    assert services.uow.accounts.get(account.id).phone is None


@pytest.mark.parametrize("phone", [
    "+14155550123", "+12345678", "+123456789012345"])
def test_e164_phones_of_8_to_15_digits_are_accepted(phone):
    check_phone(phone)


@pytest.mark.parametrize("phone", [
    "6591234567", "+0591234567", "+1234567", "+1234567890123456", "+65 91234567",
    "+65912345678\n", "+\u0666\u0665912345678", "", "+"])
def test_other_phones_are_refused_whatever_the_driver(services, account, owner, phone):
    with pytest.raises(ValidationFailed) as raised:
        services.accounts.update_profile(account.id, {"phone": phone}, owner)

    assert set(raised.value.details) == {"phone"}
    assert services.uow.accounts.get(account.id) == account
    assert updates(services) == []


@pytest.mark.parametrize("changes", [
    {"name": "   "}, {"name": ""}, {"name": "x" * 121}, {"name": None}])
def test_names_follow_the_sign_up_rules(services, account, owner, changes):
    with pytest.raises(ValidationFailed) as raised:
        services.accounts.update_profile(account.id, changes, owner)

    assert set(raised.value.details) == {"name"}
    assert services.uow.accounts.get(account.id) == account


@pytest.mark.parametrize("changes", [{}, {"email": "x@example.com"}, {"role": "admin"}])
def test_nothing_or_another_field_is_refused(services, account, owner, changes):
    with pytest.raises(ValidationFailed):
        services.accounts.update_profile(account.id, changes, owner)

    assert services.uow.accounts.get(account.id) == account


def test_a_change_records_account_updated_with_the_name_and_a_masked_phone(
        services, account, owner):
    services.accounts.update_profile(account.id, {"name": "Samantha", "phone": PHONE}, owner)
    services.accounts.update_profile(account.id, {"phone": "+14155550123"}, owner)
    services.accounts.update_profile(account.id, {"phone": None}, owner)

    first, changed, cleared = updates(services)
    assert (first.actor_id, first.entity_type, first.entity_id, first.request_id) == \
        (account.id, "account", account.id, "req-2")
    assert first.changes == {"name": ["Sam", "Samantha"], "phone": [None, "*"]}
    assert changed.changes == {"phone": ["*", "*"]}
    assert cleared.changes == {"phone": ["*", None]}
    assert "91234567" not in repr(services.uow.audit.events)


def test_only_changed_fields_are_recorded_and_no_change_records_nothing(
        services, account, owner):
    services.accounts.update_profile(account.id, {"name": "Sam", "phone": PHONE}, owner)
    assert [e.changes for e in updates(services)] == [{"phone": [None, "*"]}]

    same = services.accounts.update_profile(account.id, {"name": "Sam", "phone": PHONE}, owner)

    assert same.phone == PHONE
    assert len(updates(services)) == 1


def test_masked_phone_keeps_only_whether_there_is_one():
    assert (masked_phone(None), masked_phone(PHONE)) == (None, "*")


def test_changing_a_profile_needs_the_view_own_account_permission(services, account):
    with pytest.raises(Forbidden):
        services.accounts.update_profile(account.id, {"name": "X"},
                                         Actor.anonymous(request_id="r"))
    assert services.uow.accounts.get(account.id) == account


def test_nobody_else_changes_an_accounts_profile_not_even_an_admin(services, account):
    with pytest.raises(Forbidden):
        services.accounts.update_profile(account.id, {"name": "X"}, Actor("admin-1", Role.ADMIN))
    assert services.uow.accounts.get(account.id) == account


def test_an_account_gone_is_not_found(services):
    with pytest.raises(NotFound):
        services.accounts.update_profile("gone", {"name": "X"}, Actor("gone", Role.CUSTOMER))


def test_sign_up_refuses_a_blank_name_as_the_profile_does():
    """Every door holds the same name rule: a name of spaces is refused at sign-up too,
    not stored as an empty name."""
    services = fake_services()
    with pytest.raises(ValidationFailed) as refused:
        services.accounts.register("blank@example.com", "a long password 1", "   ",
                                   Actor.anonymous())
    assert refused.value.details == {"name": ["must not be blank"]}
    assert services.uow.accounts.get_by_email("blank@example.com") is None

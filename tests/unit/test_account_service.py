"""AccountService against the in-memory fakes: registration, sign-in, roles and audit."""

from __future__ import annotations

import pytest

from minimart.domain.accounts import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, Account
from minimart.domain.actors import ROLE_PERMISSIONS, Actor, Permission, Role
from minimart.domain.errors import (
    Conflict,
    Forbidden,
    InvalidCredentials,
    Unauthenticated,
    ValidationFailed,
)
from tests.fakes.common import FixedClock, PlainTextPasswordHasher
from tests.fakes.wiring import fake_adapters, fake_services

PASSWORD = "correct horse battery"
ADMIN = Actor("admin-1", Role.ADMIN, request_id="req-admin")
STAFF = Actor("staff-1", Role.STAFF)
CUSTOMER = Actor("customer-1", Role.CUSTOMER)


class SpyHasher(PlainTextPasswordHasher):
    """The plain-text hasher, counting verifications; with rehash=True it is the "newer
    parameters" version: it hashes as plain2$ and wants every plain$ hash redone."""

    def __init__(self, rehash: bool = False) -> None:
        self.verified: list[tuple[str, str]] = []
        self.rehash = rehash

    def verify(self, password_hash: str, password: str) -> bool:
        self.verified.append((password_hash, password))
        return password_hash in ("plain$" + password, "plain2$" + password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self.rehash and not password_hash.startswith("plain2$")

    def hash(self, password: str) -> str:
        return ("plain2$" if self.rehash else "plain$") + password


@pytest.fixture
def clock():
    return FixedClock()


@pytest.fixture
def hasher():
    return SpyHasher()


@pytest.fixture
def services(hasher, clock):
    return fake_services(adapters=fake_adapters(hasher=hasher, clock=clock))


@pytest.fixture
def accounts_repo(services):
    return services.uow.accounts


@pytest.fixture
def audit(services):
    return services.uow.audit


def make_service(uow, hasher, clock):
    """The AccountService of the one wiring, on `uow`'s memory fakes, hashing with `hasher`."""
    return fake_services(uow=uow, adapters=fake_adapters(hasher=hasher, clock=clock)).accounts


@pytest.fixture
def accounts(services):
    return services.accounts


def register(accounts, email="Shopper@Example.com", password=PASSWORD, name="Sam Shopper"):
    return accounts.register(email, password, name, Actor.anonymous(request_id="req-1"))


# --- registering ---------------------------------------------------------------
def test_register_makes_a_customer_account(accounts, accounts_repo, clock):
    account = register(accounts, name="  Sam Shopper ")

    assert account.role is Role.CUSTOMER
    assert account.name == "Sam Shopper"
    assert account.created_at == clock.now()
    assert not account.disabled
    assert accounts_repo.get(account.id) == account


def test_register_keeps_the_email_in_lower_case_without_spaces(accounts):
    account = register(accounts, email="  Shopper@Example.COM ")

    assert account.email == "shopper@example.com"


def test_register_stores_a_hash_never_the_password(accounts, accounts_repo):
    account = register(accounts)

    stored = accounts_repo.get(account.id)
    assert stored.password_hash == "plain$" + PASSWORD
    assert stored.password_hash != PASSWORD


def test_register_offers_no_way_to_choose_a_role(accounts):
    with pytest.raises(TypeError):
        accounts.register("a@example.com", PASSWORD, "A", Actor.anonymous(),
                          role=Role.ADMIN)  # type: ignore[call-arg]


@pytest.mark.parametrize("again", ["shopper@example.com", "SHOPPER@EXAMPLE.COM",
                                   " Shopper@example.com "])
def test_an_email_is_taken_whatever_its_letter_case(accounts, accounts_repo, audit, again):
    first = register(accounts, email="Shopper@Example.com")

    with pytest.raises(Conflict) as raised:
        register(accounts, email=again, name="Impostor")

    assert raised.value.code == "email_taken"
    assert accounts_repo.get_by_email("shopper@example.com") == first
    assert len(audit.events) == 1


def test_a_password_shorter_than_the_minimum_is_refused_with_details(accounts, accounts_repo):
    with pytest.raises(ValidationFailed) as raised:
        register(accounts, password="x" * (MIN_PASSWORD_LENGTH - 1))

    assert raised.value.code == "validation_failed"
    assert list(raised.value.details) == ["password"]
    assert raised.value.details["password"] == [
        f"must be at least {MIN_PASSWORD_LENGTH} characters"]
    assert accounts_repo.get_by_email("shopper@example.com") is None


def test_a_password_of_exactly_the_minimum_length_is_accepted(accounts):
    account = register(accounts, password="x" * MIN_PASSWORD_LENGTH)

    assert account.password_hash == "plain$" + "x" * MIN_PASSWORD_LENGTH


def test_an_overlong_password_is_refused_before_it_is_hashed(accounts, accounts_repo):
    with pytest.raises(ValidationFailed) as raised:
        register(accounts, password="x" * (MAX_PASSWORD_LENGTH + 1))

    assert "password" in raised.value.details
    assert accounts_repo.get_by_email("shopper@example.com") is None


def test_register_records_an_account_created_event_by_the_new_account(accounts, audit, clock):
    account = register(accounts)

    [event] = audit.events
    assert (event.action, event.entity_type, event.entity_id) == (
        "account.created", "account", account.id)
    assert (event.actor_id, event.request_id, event.at) == (account.id, "req-1", clock.now())
    assert event.changes == {"email": [None, "shopper@example.com"],
                             "name": [None, "Sam Shopper"], "role": [None, "customer"]}


def test_the_audit_event_never_contains_the_password_or_its_hash(accounts, audit):
    register(accounts)

    [event] = audit.events
    assert PASSWORD not in repr(event)
    assert "password" not in " ".join(event.changes)


# --- creating staff and admins -------------------------------------------------
@pytest.mark.parametrize("role", list(Role))
def test_the_system_actor_may_create_an_account_of_any_role(accounts, role):
    account = accounts.create_account("boss@example.com", PASSWORD, "Boss", role, Actor.system())

    assert account.role is role


def test_an_account_made_by_the_cli_is_recorded_as_made_by_the_system(accounts, audit):
    account = accounts.create_account("boss@example.com", PASSWORD, "Boss", Role.ADMIN,
                                      Actor.system(request_id="cli:42"))

    [event] = audit.events
    assert (event.action, event.entity_id) == ("account.created", account.id)
    assert (event.actor_id, event.request_id) == ("system", "cli:42")


def test_an_admin_may_create_a_staff_account_and_is_recorded_as_the_actor(accounts, audit):
    account = accounts.create_account("clerk@example.com", PASSWORD, "Clerk", Role.STAFF, ADMIN)

    [event] = audit.events
    assert (event.actor_id, event.request_id, event.entity_id) == (
        "admin-1", "req-admin", account.id)
    assert event.changes["role"] == [None, "staff"]


@pytest.mark.parametrize("actor", [pytest.param(STAFF, id="staff"),
                                   pytest.param(CUSTOMER, id="customer"),
                                   pytest.param(Actor.anonymous(), id="anonymous")])
def test_create_account_needs_the_accounts_manage_permission(accounts, accounts_repo, audit,
                                                              actor):
    with pytest.raises(Forbidden) as raised:
        accounts.create_account("boss@example.com", PASSWORD, "Boss", Role.ADMIN, actor)

    assert raised.value.code == "forbidden"
    assert accounts_repo.get_by_email("boss@example.com") is None
    assert audit.events == []


def test_create_account_applies_the_same_email_and_password_rules(accounts):
    register(accounts, email="taken@example.com")

    with pytest.raises(Conflict) as taken:
        accounts.create_account("TAKEN@example.com", PASSWORD, "X", Role.STAFF, Actor.system())
    with pytest.raises(ValidationFailed):
        accounts.create_account("new@example.com", "short", "X", Role.STAFF, Actor.system())

    assert taken.value.code == "email_taken"


def test_only_admins_hold_the_accounts_manage_permission():
    holders = {role for role, perms in ROLE_PERMISSIONS.items()
               if Permission.ACCOUNTS_MANAGE in perms}

    assert holders == {Role.ADMIN}


# --- signing in ----------------------------------------------------------------
def test_authenticate_with_the_right_password_returns_the_account(accounts):
    account = register(accounts)

    assert accounts.authenticate("shopper@example.com", PASSWORD) == account


def test_authenticate_ignores_the_letter_case_and_spaces_of_the_email(accounts):
    account = register(accounts)

    assert accounts.authenticate("  SHOPPER@example.com ", PASSWORD) == account


def _failure(accounts, email, password):
    with pytest.raises(InvalidCredentials) as raised:
        accounts.authenticate(email, password)
    return raised.value


def test_a_wrong_password_and_an_unknown_email_give_the_same_answer(accounts):
    register(accounts)

    wrong_password = _failure(accounts, "shopper@example.com", "not the password")
    unknown_email = _failure(accounts, "nobody@example.com", PASSWORD)

    assert isinstance(wrong_password, Unauthenticated)
    assert (wrong_password.code, wrong_password.message, wrong_password.details) == (
        unknown_email.code, unknown_email.message, unknown_email.details)
    assert wrong_password.code == "invalid_credentials"


def test_an_unknown_email_still_costs_a_password_verification(accounts, hasher):
    _failure(accounts, "nobody@example.com", PASSWORD)

    assert hasher.verified == [(hasher.dummy_hash(), PASSWORD)]


def _add_disabled(accounts_repo, clock, email="gone@example.com"):
    account = Account(id="disabled-1", email=email, name="Gone", role=Role.CUSTOMER,
                      password_hash="plain$" + PASSWORD, created_at=clock.now(), disabled=True)
    accounts_repo.add(account)
    return account


def test_a_disabled_account_cannot_sign_in_even_with_the_right_password(accounts, accounts_repo,
                                                                        clock):
    _add_disabled(accounts_repo, clock)

    failure = _failure(accounts, "gone@example.com", PASSWORD)

    assert failure.message == _failure(accounts, "nobody@example.com", PASSWORD).message


def test_authenticate_rehashes_a_password_whose_hash_is_outdated(services, accounts,
                                                                 accounts_repo):
    account = register(accounts)
    new_hasher = SpyHasher(rehash=True)
    upgraded = make_service(services.uow, new_hasher, FixedClock())

    upgraded.authenticate("shopper@example.com", PASSWORD)

    assert accounts_repo.get(account.id).password_hash == "plain2$" + PASSWORD
    assert upgraded.authenticate("shopper@example.com", PASSWORD).id == account.id


def test_authenticate_keeps_a_current_hash(accounts, accounts_repo):
    account = register(accounts)

    accounts.authenticate("shopper@example.com", PASSWORD)

    assert accounts_repo.get(account.id).password_hash == account.password_hash


def test_a_failed_sign_in_never_rehashes(services, accounts_repo, clock):
    service = make_service(services.uow, SpyHasher(), clock)
    account = service.register("a@example.com", PASSWORD, "A", Actor.anonymous())
    upgraded = make_service(services.uow, SpyHasher(rehash=True), clock)

    _failure(upgraded, "a@example.com", "wrong password!")

    assert accounts_repo.get(account.id).password_hash == account.password_hash


# --- the account behind a token ------------------------------------------------
def test_find_active_returns_an_existing_enabled_account(accounts):
    account = register(accounts)

    assert accounts.find_active(account.id) == account


def test_find_active_returns_none_for_an_unknown_id(accounts):
    assert accounts.find_active("no-such-account") is None


def test_find_active_returns_none_for_a_disabled_account(accounts, accounts_repo, clock):
    disabled = _add_disabled(accounts_repo, clock)

    assert accounts.find_active(disabled.id) is None


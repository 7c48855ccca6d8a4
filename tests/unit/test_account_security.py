"""Attacks on accounts, against the in-memory fakes: password guessing (throttling per account
and per client address), stolen tokens (revocation), the second factor, and reading the
audit trail."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from minimart.domain.accounts import (
    RECOVERY_CODES,
    Account,
    LoginPolicy,
    OtpRequired,
    OtpUsed,
    RateLimited,
    RegistrationPolicy,
)
from minimart.domain.actors import Actor, Role
from minimart.domain.audit import AuditEvent, AuditQuery
from minimart.domain.errors import (
    Conflict,
    Forbidden,
    InvalidCredentials,
    InvalidState,
    Unauthenticated,
    Unavailable,
    ValidationFailed,
)
from minimart.domain.services.wiring import Services
from tests.fakes.accounts import FakeOneTimePasswords, MemoryThrottle
from tests.fakes.common import FixedClock, MemoryAuditLog, PlainTextPasswordHasher
from tests.fakes.unit_of_work import MemoryUnitOfWork
from tests.fakes.wiring import fake_adapters, fake_policies, fake_services

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new passphrase"
WINDOW = timedelta(minutes=15)
SHOPPER = "shopper@example.com"
CLERK = "clerk@example.com"


class CommitSpy(MemoryUnitOfWork):
    """Remembers what the sign-in throttle held at each commit, to prove a failure is
    committed before the sign-in fails."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[dict[str, tuple[int, datetime]]] = []

    def commit(self) -> None:
        self.seen.append(dict(self.login_throttle.counters))
        super().commit()


class RehashingHasher(PlainTextPasswordHasher):
    """The "newer parameters" hasher: hashes as plain2$ and wants every plain$ hash redone."""

    def hash(self, password: str) -> str:
        return "plain2$" + password

    def verify(self, password_hash: str, password: str) -> bool:
        return password_hash in ("plain$" + password, "plain2$" + password)

    def needs_rehash(self, password_hash: str) -> bool:
        return not password_hash.startswith("plain2$")


@dataclass
class Shop:
    """An AccountService and every fake behind it, for the test to inspect and steer."""

    policy: LoginPolicy = field(default_factory=LoginPolicy)
    registration_policy: RegistrationPolicy = field(default_factory=RegistrationPolicy)
    hasher: PlainTextPasswordHasher = field(default_factory=PlainTextPasswordHasher)
    clock: FixedClock = field(default_factory=FixedClock)
    otp: FakeOneTimePasswords = field(default_factory=FakeOneTimePasswords)

    def __post_init__(self) -> None:
        self.uow = CommitSpy()
        self.services = fake_services(
            uow=self.uow,
            adapters=fake_adapters(hasher=self.hasher, clock=self.clock, otp=self.otp),
            policies=fake_policies(login=self.policy, registration=self.registration_policy))
        self.repo = self.uow.accounts
        self.audit = self.uow.audit
        self.throttle = self.uow.login_throttle
        self.registrations = self.uow.registration_throttle
        self.accounts = self.services.accounts

    def make(self, email: str = SHOPPER, role: Role = Role.CUSTOMER) -> Account:
        return self.accounts.create_account(email, PASSWORD, role.title(), role,
                                            Actor.system())

    def stored(self, account: Account) -> Account:
        found = self.repo.get(account.id)
        assert found is not None
        return found

    def sign_in(self, email: str = SHOPPER, password: str = PASSWORD,
                client: str | None = None, otp: str | None = None) -> Account:
        return self.accounts.authenticate(email, password, client=client, otp=otp)

    def fail(self, email: str = SHOPPER, times: int = 1, client: str | None = None,
             password: str = "not the password") -> None:
        for _ in range(times):
            with pytest.raises(InvalidCredentials):
                self.sign_in(email, password, client=client)

    def limited(self, email: str = SHOPPER, password: str = PASSWORD,
                client: str | None = None, otp: str | None = None) -> RateLimited:
        with pytest.raises(RateLimited) as raised:
            self.sign_in(email, password, client=client, otp=otp)
        return raised.value

    def code(self, account: Account) -> str:
        secret = self.stored(account).totp_secret
        assert secret is not None
        return self.otp.code(secret, self.clock.now())


def as_actor(account: Account) -> Actor:
    return Actor(account.id, account.role, request_id="req-own")


@pytest.fixture
def shop() -> Shop:
    return Shop()


# --- throttling: per account --------------------------------------------------------------------

def test_the_sixth_attempt_after_five_failures_is_refused_even_with_the_right_password(shop):
    shop.make()
    shop.fail(times=5)

    limited = shop.limited(password=PASSWORD)

    assert limited.code == "rate_limited"
    assert 0 < limited.retry_after <= WINDOW.total_seconds() + 1
    assert limited.details == {"retry_after": limited.retry_after}


def test_a_throttled_attempt_does_not_even_check_the_password(shop):
    shop.make()
    shop.fail(times=5)
    checked = []
    shop.hasher.verify = lambda h, p: checked.append(p) or True  # type: ignore[method-assign]

    shop.limited(password="a guess to be tested")

    assert checked == []


def test_four_failures_still_let_the_right_password_in(shop):
    account = shop.make()
    shop.fail(times=4)

    assert shop.sign_in() == account


def test_retry_after_counts_down_to_the_end_of_the_delay(shop):
    shop.make()
    shop.fail(times=5)
    first = shop.limited().retry_after
    shop.clock.advance(seconds=40)

    later = shop.limited().retry_after

    assert first == 60
    assert later == 20


def test_sign_in_works_again_once_the_delay_has_passed(shop):
    account = shop.make()
    shop.fail(times=5)
    shop.clock.advance(seconds=59)
    shop.limited()
    shop.clock.advance(seconds=1)

    assert shop.sign_in() == account


def test_each_further_failure_doubles_the_delay_up_to_the_longest(shop):
    shop.make()
    shop.fail(times=5)
    waits = []
    for _ in range(9):
        waits.append(shop.limited().retry_after)
        shop.clock.advance(seconds=waits[-1])
        shop.fail()

    assert waits == [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]


def test_a_pair_quiet_for_a_day_counts_from_zero_again(shop):
    account = shop.make()
    shop.fail(times=5)
    shop.clock.advance(minutes=1)
    shop.fail()
    shop.clock.advance(days=1)
    shop.fail(times=4)

    assert shop.sign_in() == account


def test_a_successful_sign_in_resets_the_accounts_failure_count(shop):
    account = shop.make()
    shop.fail(times=4)
    shop.sign_in()
    shop.fail(times=4)

    assert shop.sign_in() == account
    assert "account:" + SHOPPER not in shop.throttle.counters


def test_the_limit_follows_the_email_whatever_its_letter_case(shop):
    shop.make()
    for variant in ("SHOPPER@example.com", " Shopper@Example.com ", "shopper@EXAMPLE.COM",
                    "shopper@example.com", "Shopper@example.com"):
        shop.fail(variant)

    shop.limited("shopper@example.com")


def test_failures_on_one_account_do_not_throttle_another(shop):
    shop.make()
    other = shop.make("other@example.com")
    shop.fail(times=5)

    assert shop.sign_in("other@example.com") == other


def test_an_unknown_email_is_throttled_exactly_like_a_known_one(shop):
    """No account enumeration: the limit and its answer are the same for any email."""
    shop.make()
    shop.fail(SHOPPER, times=5)
    shop.fail("nobody@example.com", times=5)

    known = shop.limited(SHOPPER)
    unknown = shop.limited("nobody@example.com")

    assert (known.code, known.message, known.details) == (
        unknown.code, unknown.message, unknown.details)


def test_a_disabled_account_is_throttled_like_any_other(shop):
    shop.make()
    shop.accounts.disable(SHOPPER, Actor.system())
    shop.fail(times=5, password=PASSWORD)

    shop.limited()


def test_a_custom_policy_sets_the_account_limit_and_the_window():
    shop = Shop(policy=LoginPolicy(max_failures_per_account=2, window=timedelta(minutes=1)))
    account = shop.make()
    shop.fail(times=2)

    assert shop.limited().retry_after <= 61
    shop.clock.advance(minutes=1)
    assert shop.sign_in() == account


# --- throttling: per client address ------------------------------------------------------------

@pytest.fixture
def nat_shop() -> Shop:
    return Shop(policy=LoginPolicy(max_failures_per_account=5, max_failures_per_address=8))


def test_many_emails_from_one_address_are_stopped_by_the_address_limit(nat_shop):
    nat_shop.make()
    for n in range(8):
        nat_shop.fail(f"guess{n}@example.com", client="203.0.113.7")

    limited = nat_shop.limited(SHOPPER, client="203.0.113.7")

    assert limited.retry_after > 0


def test_the_address_limit_does_not_block_another_address(nat_shop):
    account = nat_shop.make()
    for n in range(8):
        nat_shop.fail(f"guess{n}@example.com", client="203.0.113.7")

    assert nat_shop.sign_in(client="198.51.100.2") == account
    assert nat_shop.sign_in(client=None) == account


def test_seven_failures_from_an_address_still_let_it_sign_in(nat_shop):
    account = nat_shop.make()
    for n in range(7):
        nat_shop.fail(f"guess{n}@example.com", client="203.0.113.7")

    assert nat_shop.sign_in(client="203.0.113.7") == account


def test_failures_from_other_addresses_never_lock_the_owner_out(nat_shop):
    """Owner emails are public: strangers failing from anywhere must not keep them out."""
    account = nat_shop.make()
    for n in range(20):
        nat_shop.fail(client=f"198.51.100.{n}", times=5)

    assert nat_shop.sign_in(client="192.0.2.99") == account
    nat_shop.limited(client="198.51.100.3")  # the strangers themselves wait


def test_the_delay_follows_the_account_and_address_pair(nat_shop):
    account = nat_shop.make()
    other = nat_shop.make("other@example.com")
    nat_shop.fail(client="203.0.113.7", times=5)

    nat_shop.limited(client="203.0.113.7")
    assert nat_shop.sign_in("other@example.com", client="203.0.113.7") == other
    assert nat_shop.sign_in(client="198.51.100.2") == account


# --- failures are committed ---------------------------------------------------------------------

def test_a_failure_is_committed_before_invalid_credentials_is_raised(shop):
    shop.make()

    shop.fail(client="203.0.113.7")

    assert shop.uow.commits == 1
    [at_commit] = shop.uow.seen
    assert at_commit[f"account:{SHOPPER} from:203.0.113.7"][0] == 1
    assert at_commit["address:203.0.113.7"][0] == 1


def test_every_failure_commits_once_and_an_unknown_email_commits_too(shop):
    shop.make()

    shop.fail(times=3)
    shop.fail("nobody@example.com")

    assert shop.uow.commits == 4
    assert shop.uow.seen[-1]["account:nobody@example.com"][0] == 1
    assert shop.uow.seen[2]["account:" + SHOPPER][0] == 3


def test_a_successful_sign_in_commits_its_attempt_first_and_leaves_nothing_counted(shop):
    shop.make()
    now = shop.clock.now()

    shop.sign_in(client="203.0.113.7")

    assert shop.uow.seen == [{f"account:{SHOPPER} from:203.0.113.7": (1, now),
                              "address:203.0.113.7": (1, now)}]
    assert shop.throttle.counters == {}


# --- attempts are counted before the password is checked ----------------------------------------

def test_an_attempt_is_counted_and_committed_before_its_password_is_checked(shop):
    shop.make()
    seen_at_check: list[tuple[int, dict[str, tuple[int, datetime]]]] = []
    shop.hasher.verify = lambda h, p: seen_at_check.append(  # type: ignore[method-assign]
        (shop.uow.commits, dict(shop.throttle.counters))) or False

    shop.fail(client="203.0.113.7")

    [(commits, counters)] = seen_at_check
    assert commits == 1
    assert {key: count for key, (count, _) in counters.items()} == {
        f"account:{SHOPPER} from:203.0.113.7": 1, "address:203.0.113.7": 1}


def overlapping(attempts: int, attempt: Callable[[], None]) -> Callable[[str, str], bool]:
    """A hasher's verify (or hash) during which every attempt still to come arrives, as if
    they all raced: the first attempt's check is still running when the second starts, and
    so on."""
    left = [attempts - 1]

    def check(*_: str) -> bool:
        while left[0] > 0:
            left[0] -= 1
            attempt()
        return False

    return check


def test_forty_overlapping_guesses_get_only_the_limits_worth_of_password_checks(shop):
    shop.make()
    checks: list[str] = []
    refused: list[str] = []

    def guess() -> None:
        try:
            shop.sign_in(password="a guess")
        except (InvalidCredentials, RateLimited) as error:
            refused.append(error.code)

    race = overlapping(40, guess)
    shop.hasher.verify = lambda h, p: checks.append(p) or race(h, p)  # type: ignore[method-assign]

    guess()

    assert len(checks) == 5
    assert sorted(refused) == ["invalid_credentials"] * 5 + ["rate_limited"] * 35
    assert shop.throttle.counters["account:" + SHOPPER][0] == 5


def test_refused_by_the_address_limit_counts_nothing_against_the_account(nat_shop):
    nat_shop.make()
    for n in range(8):
        nat_shop.fail(f"guess{n}@example.com", client="203.0.113.7")

    nat_shop.limited(SHOPPER, client="203.0.113.7")

    assert "account:" + SHOPPER not in nat_shop.throttle.counters


def test_successful_sign_ins_never_use_up_the_address_limit(nat_shop):
    account = nat_shop.make()

    for _ in range(20):
        assert nat_shop.sign_in(client="203.0.113.7") == account

    assert nat_shop.throttle.counters == {}


def test_a_successful_sign_in_gives_back_only_its_own_attempt_from_the_address(nat_shop):
    nat_shop.make()
    nat_shop.fail("guess@example.com", times=3, client="203.0.113.7")

    nat_shop.sign_in(client="203.0.113.7")

    assert nat_shop.throttle.counters["address:203.0.113.7"][0] == 3


def test_a_right_password_waiting_for_its_second_factor_is_no_failure(shop, enrolled):
    for _ in range(8):
        with pytest.raises(OtpRequired):
            shop.sign_in(CLERK, client="203.0.113.7")

    assert shop.throttle.counters == {}
    assert shop.uow.seen[-1] == {}  # given back, committed, though the request fails
    assert shop.sign_in(CLERK, otp=shop.code(enrolled[0])).id == enrolled[0].id


def test_a_strict_shops_refusal_of_a_right_staff_password_is_no_failure(strict_shop):
    strict_shop.make(CLERK, Role.STAFF)
    for _ in range(8):
        with pytest.raises(Forbidden):
            strict_shop.sign_in(CLERK, client="203.0.113.7")

    assert strict_shop.throttle.counters == {}


def busy(*_: str) -> bool:
    raise Unavailable("the server is busy checking passwords")


def test_a_sign_in_that_finds_no_hashing_slot_is_not_counted(nat_shop):
    account = nat_shop.make()
    nat_shop.hasher.verify = busy  # type: ignore[method-assign]

    for _ in range(10):
        with pytest.raises(Unavailable):
            nat_shop.sign_in(password="maybe right", client="203.0.113.7")

    assert nat_shop.throttle.counters == {}
    assert nat_shop.uow.seen[-1] == {}  # given back, committed, though the request fails
    del nat_shop.hasher.verify
    assert nat_shop.sign_in(client="203.0.113.7") == account


def test_a_rehash_that_finds_no_hashing_slot_waits_for_the_next_sign_in():
    shop = Shop(hasher=RehashingHasher())
    account = shop.make()
    shop.repo.set_password_hash(account.id, "plain$" + PASSWORD)
    shop.hasher.hash = busy  # type: ignore[method-assign]

    assert shop.sign_in().id == account.id
    assert shop.stored(account).password_hash == "plain$" + PASSWORD


# --- registrations per client address -----------------------------------------------------------

class SpyingHasher(PlainTextPasswordHasher):
    """Remembers what the registration counters held each time it hashed."""

    def __init__(self) -> None:
        self.hashed: list[dict[str, tuple[int, datetime]]] = []
        self.registrations: MemoryThrottle | None = None

    def hash(self, password: str) -> str:
        assert self.registrations is not None
        self.hashed.append(dict(self.registrations.counters))
        return super().hash(password)


@pytest.fixture
def signups() -> Shop:
    shop = Shop(registration_policy=RegistrationPolicy(max_per_address=3,
                                                       window=timedelta(hours=1)),
                hasher=SpyingHasher())
    shop.hasher.registrations = shop.registrations  # type: ignore[attr-defined]
    return shop


def sign_up(shop: Shop, n: int, client: str | None = "203.0.113.7",
            password: str = PASSWORD) -> Account:
    return shop.accounts.register(f"new{n}@example.com", password, f"New {n}",
                                  Actor.anonymous(), client=client)


def refused_sign_up(shop: Shop, n: int, client: str = "203.0.113.7") -> RateLimited:
    with pytest.raises(RateLimited) as raised:
        sign_up(shop, n, client)
    return raised.value


def test_sign_ups_from_one_address_stop_at_the_limit_with_retry_after(signups):
    for n in range(3):
        sign_up(signups, n)
    hashes = len(signups.hasher.hashed)  # type: ignore[attr-defined]

    refused = refused_sign_up(signups, 3)

    assert refused.code == "rate_limited"
    assert 3600 - 2 <= refused.retry_after <= 3601
    assert refused.details == {"retry_after": refused.retry_after}
    assert "60 minutes" in refused.message
    assert len(signups.hasher.hashed) == hashes  # type: ignore[attr-defined]
    assert signups.repo.get_by_email("new3@example.com") is None


def test_a_sign_up_is_counted_and_committed_before_its_password_is_hashed(signups):
    sign_up(signups, 0)

    assert signups.hasher.hashed == [  # type: ignore[attr-defined]
        {"address:203.0.113.7": (1, signups.clock.now())}]
    assert signups.uow.commits == 1


def test_the_sign_up_limit_tells_the_minutes_left_and_ends_with_its_window(signups):
    for n in range(3):
        sign_up(signups, n)
    signups.clock.advance(minutes=59, seconds=30)

    assert "a minute" in refused_sign_up(signups, 3).message
    signups.clock.advance(seconds=30)
    sign_up(signups, 3)


def test_other_addresses_and_the_owners_cli_are_not_held_by_one_addresss_limit(signups):
    for n in range(3):
        sign_up(signups, n)

    sign_up(signups, 3, client="198.51.100.2")
    sign_up(signups, 4, client=None)
    signups.accounts.create_account("clerk@example.com", PASSWORD, "Clerk", Role.STAFF,
                                    Actor.system())


def test_refused_sign_ups_count_too_so_probing_for_taken_emails_is_limited(signups):
    signups.make()
    for _ in range(3):
        with pytest.raises(Conflict):
            signups.accounts.register(SHOPPER, PASSWORD, "Sam", Actor.anonymous(),
                                      client="203.0.113.7")

    refused_sign_up(signups, 0)


def test_a_password_the_rules_refuse_costs_no_sign_up(signups):
    for _ in range(5):
        with pytest.raises(ValidationFailed):
            sign_up(signups, 0, password="short")

    sign_up(signups, 0)
    assert signups.registrations.counters["address:203.0.113.7"][0] == 1


def test_sign_ups_overlapping_in_time_get_only_the_limits_worth_of_hashes(signups):
    refused: list[str] = []
    numbers = iter(range(100))

    def attempt() -> None:
        try:
            sign_up(signups, next(numbers))
        except RateLimited as error:
            refused.append(error.code)

    race = overlapping(40, attempt)
    hashes: list[str] = []

    def slow_hash(password: str) -> str:
        hashes.append(password)
        race(password)
        return "plain$" + password

    signups.hasher.hash = slow_hash  # type: ignore[method-assign]

    attempt()

    assert len(hashes) == 3
    assert refused == ["rate_limited"] * 37


def test_sign_ups_and_failed_sign_ins_are_counted_apart(signups):
    signups.make()
    signups.fail(times=4, client="203.0.113.7")

    for n in range(3):
        sign_up(signups, n)

    assert signups.throttle.counters["address:203.0.113.7"][0] == 4
    assert signups.registrations.counters["address:203.0.113.7"][0] == 3


# --- tokens: password change, disabling, rehashing --------------------------------------------

def test_changing_the_password_revokes_every_earlier_token(shop):
    account = shop.make()
    assert shop.accounts.find_active(account.id, 0) is not None

    shop.accounts.change_password(account.id, PASSWORD, NEW_PASSWORD, as_actor(account))

    assert shop.accounts.find_active(account.id, 0) is None
    assert shop.stored(account).token_generation == 1
    assert shop.accounts.find_active(account.id, 1) == shop.stored(account)


def test_after_a_password_change_only_the_new_password_signs_in(shop):
    account = shop.make()

    shop.accounts.change_password(account.id, PASSWORD, NEW_PASSWORD, as_actor(account))

    shop.fail(password=PASSWORD)
    assert shop.sign_in(password=NEW_PASSWORD).id == account.id


def test_a_password_change_is_audited_without_any_password(shop):
    account = shop.make()

    shop.accounts.change_password(account.id, PASSWORD, NEW_PASSWORD, as_actor(account))

    event = shop.audit.events[-1]
    assert (event.action, event.entity_id, event.actor_id, event.request_id) == (
        "account.password_changed", account.id, account.id, "req-own")
    assert PASSWORD not in repr(shop.audit.events)
    assert NEW_PASSWORD not in repr(shop.audit.events)


def test_a_wrong_current_password_changes_nothing(shop):
    account = shop.make()

    with pytest.raises(InvalidCredentials):
        shop.accounts.change_password(account.id, "not the password", NEW_PASSWORD,
                                      as_actor(account))

    assert shop.stored(account) == account
    assert [e.action for e in shop.audit.events] == ["account.created"]


@pytest.mark.parametrize("weak", ["short", "x" * 9, "y" * 1025])
def test_a_weak_new_password_is_refused_and_changes_nothing(shop, weak):
    account = shop.make()

    with pytest.raises(ValidationFailed) as raised:
        shop.accounts.change_password(account.id, PASSWORD, weak, as_actor(account))

    assert "password" in raised.value.details
    assert shop.stored(account) == account


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.STAFF, Role.ADMIN])
def test_no_other_account_may_change_a_password_even_knowing_it(shop, role):
    account = shop.make()
    intruder = shop.make("intruder@example.com", role)

    with pytest.raises(Forbidden):
        shop.accounts.change_password(account.id, PASSWORD, NEW_PASSWORD, as_actor(intruder))

    assert shop.stored(account) == account


def test_disabling_revokes_every_token_and_stops_sign_in(shop):
    account = shop.make()

    disabled = shop.accounts.disable(SHOPPER, Actor.system())

    assert disabled.disabled
    assert disabled.token_generation == account.token_generation + 1
    assert shop.accounts.find_active(account.id, account.token_generation) is None
    assert shop.accounts.find_active(account.id, disabled.token_generation) is None
    shop.fail(password=PASSWORD)


def test_disabling_twice_is_harmless_and_audited_once(shop):
    shop.make()

    shop.accounts.disable(SHOPPER, Actor.system())
    again = shop.accounts.disable(SHOPPER, Actor.system())

    assert again.token_generation == 1
    assert [e.action for e in shop.audit.events].count("account.disabled") == 1


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.STAFF])
def test_only_account_managers_may_disable_an_account(shop, role):
    account = shop.make()
    actor = as_actor(shop.make("someone@example.com", role))

    with pytest.raises(Forbidden):
        shop.accounts.disable(SHOPPER, actor)

    assert shop.stored(account) == account


def test_sign_in_rehashes_an_outdated_hash_with_the_current_parameters():
    shop = Shop(hasher=RehashingHasher())
    account = Account(id="old-1", email=SHOPPER, name="Old", role=Role.CUSTOMER,
                      password_hash="plain$" + PASSWORD, created_at=shop.clock.now())
    shop.repo.add(account)

    shop.sign_in()

    assert shop.stored(account).password_hash == "plain2$" + PASSWORD
    assert shop.sign_in().id == account.id


def test_a_failed_sign_in_does_not_rehash():
    shop = Shop(hasher=RehashingHasher())
    account = Account(id="old-1", email=SHOPPER, name="Old", role=Role.CUSTOMER,
                      password_hash="plain$" + PASSWORD, created_at=shop.clock.now())
    shop.repo.add(account)

    shop.fail()

    assert shop.stored(account).password_hash == "plain$" + PASSWORD


# --- TOTP: enrolment ---------------------------------------------------------------------------

def test_customers_cannot_enrol_a_second_factor(shop):
    account = shop.make()

    with pytest.raises(Forbidden):
        shop.accounts.begin_totp(account.id, PASSWORD, as_actor(account))

    assert shop.stored(account).totp_secret is None


def test_enrolment_needs_the_right_password(shop):
    clerk = shop.make(CLERK, Role.STAFF)

    with pytest.raises(InvalidCredentials):
        shop.accounts.begin_totp(clerk.id, "not the password", as_actor(clerk))

    assert shop.stored(clerk) == clerk


def test_nobody_else_may_enrol_an_accounts_second_factor(shop):
    clerk = shop.make(CLERK, Role.STAFF)
    admin = shop.make("admin@example.com", Role.ADMIN)

    with pytest.raises(Forbidden):
        shop.accounts.begin_totp(clerk.id, PASSWORD, as_actor(admin))

    assert shop.stored(clerk) == clerk


def test_enrolment_returns_a_uri_and_ten_recovery_codes_stored_only_as_digests(shop):
    clerk = shop.make(CLERK, Role.STAFF)

    enrolment = shop.accounts.begin_totp(clerk.id, PASSWORD, as_actor(clerk))

    stored = shop.stored(clerk)
    assert enrolment.otpauth_uri.startswith("otpauth://totp/")
    assert f"secret={stored.totp_secret}" in enrolment.otpauth_uri
    assert CLERK in enrolment.otpauth_uri
    assert len(enrolment.recovery_codes) == RECOVERY_CODES == 10
    assert len(set(enrolment.recovery_codes)) == 10
    assert len(stored.recovery_codes) == 10
    assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for digest in stored.recovery_codes)
    for code in enrolment.recovery_codes:
        assert code not in repr(stored)
        assert code.replace("-", "") not in repr(stored)
        assert hashlib.sha256(code.replace("-", "").encode()).hexdigest() in \
            stored.recovery_codes


def test_enrolment_writes_neither_the_secret_nor_the_codes_to_the_audit_trail(shop):
    clerk = shop.make(CLERK, Role.STAFF)

    enrolment = shop.accounts.begin_totp(clerk.id, PASSWORD, as_actor(clerk))

    trail = repr(shop.audit.events)
    assert "account.totp_enrolment_started" in trail
    assert shop.stored(clerk).totp_secret not in trail
    assert not any(code in trail for code in enrolment.recovery_codes)


def test_two_factor_sign_in_is_off_until_a_right_code_is_confirmed(shop):
    clerk = shop.make(CLERK, Role.STAFF)
    shop.accounts.begin_totp(clerk.id, PASSWORD, as_actor(clerk))

    assert not shop.stored(clerk).totp_enabled
    assert shop.sign_in(CLERK).id == clerk.id
    with pytest.raises(ValidationFailed):
        shop.accounts.confirm_totp(clerk.id, "000000", as_actor(clerk))
    assert not shop.stored(clerk).totp_enabled

    shop.accounts.confirm_totp(clerk.id, shop.code(clerk), as_actor(clerk))

    assert shop.stored(clerk).totp_enabled
    assert shop.audit.events[-1].action == "account.totp_enabled"


def test_confirming_without_an_enrolment_is_refused(shop):
    clerk = shop.make(CLERK, Role.STAFF)

    with pytest.raises(ValidationFailed):
        shop.accounts.confirm_totp(clerk.id, "123456", as_actor(clerk))

    assert not shop.stored(clerk).totp_enabled


def test_nobody_else_may_confirm_an_accounts_second_factor(shop):
    clerk = shop.make(CLERK, Role.STAFF)
    admin = shop.make("admin@example.com", Role.ADMIN)
    shop.accounts.begin_totp(clerk.id, PASSWORD, as_actor(clerk))

    with pytest.raises(Forbidden):
        shop.accounts.confirm_totp(clerk.id, shop.code(clerk), as_actor(admin))

    assert not shop.stored(clerk).totp_enabled


def test_the_system_enrols_staff_with_two_factor_sign_in_on_at_once(shop):
    clerk = shop.make(CLERK, Role.STAFF)

    shop.accounts.begin_totp(clerk.id, "", Actor.system())

    assert shop.stored(clerk).totp_enabled
    with pytest.raises(OtpRequired):
        shop.sign_in(CLERK)


# --- TOTP: signing in --------------------------------------------------------------------------

@pytest.fixture
def enrolled(shop: Shop) -> tuple[Account, list[str]]:
    """A clerk with two-factor sign-in confirmed, and their recovery codes."""
    clerk = shop.make(CLERK, Role.STAFF)
    enrolment = shop.accounts.begin_totp(clerk.id, PASSWORD, as_actor(clerk))
    shop.accounts.confirm_totp(clerk.id, shop.code(clerk), as_actor(clerk))
    return clerk, enrolment.recovery_codes


def test_with_totp_on_the_password_alone_answers_otp_required(shop, enrolled):
    with pytest.raises(OtpRequired) as raised:
        shop.sign_in(CLERK)

    assert isinstance(raised.value, Unauthenticated)
    assert raised.value.code == "otp_required"


def test_with_totp_on_a_wrong_password_answers_invalid_credentials_not_otp_required(
        shop, enrolled):
    with pytest.raises(InvalidCredentials) as raised:
        shop.sign_in(CLERK, "not the password")

    assert raised.value.code == "invalid_credentials"


def test_a_wrong_code_is_invalid_credentials_and_counts_as_a_failure(shop, enrolled):
    right = shop.code(enrolled[0])
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"

    with pytest.raises(InvalidCredentials):
        shop.sign_in(CLERK, otp=wrong)

    assert shop.throttle.counters["account:" + CLERK][0] == 1
    assert shop.uow.commits == 1


def test_wrong_codes_are_throttled_like_wrong_passwords(shop, enrolled):
    for n in range(5):
        with pytest.raises(InvalidCredentials):
            shop.sign_in(CLERK, otp=f"{n:06d}x")

    shop.limited(CLERK, otp=shop.code(enrolled[0]))


def test_the_password_and_the_current_code_sign_in(shop, enrolled):
    clerk, _ = enrolled

    assert shop.sign_in(CLERK, otp=shop.code(clerk)).id == clerk.id


def test_a_right_code_with_a_wrong_password_is_refused(shop, enrolled):
    with pytest.raises(InvalidCredentials):
        shop.sign_in(CLERK, "not the password", otp=shop.code(enrolled[0]))


def test_a_totp_code_signs_in_once_and_its_replay_is_refused_and_counted(shop, enrolled):
    clerk, _ = enrolled
    code = shop.code(clerk)
    assert shop.sign_in(CLERK, otp=code).id == clerk.id

    with pytest.raises(InvalidCredentials):
        shop.sign_in(CLERK, otp=code)  # seen over a shoulder, replayed from a log

    assert shop.throttle.counters["account:" + CLERK][0] == 1


def test_a_used_code_after_the_right_password_is_answered_as_used(shop, enrolled):
    clerk, _ = enrolled
    code = shop.code(clerk)
    shop.sign_in(CLERK, otp=code)

    with pytest.raises(OtpUsed) as used:
        shop.sign_in(CLERK, otp=code)
    with pytest.raises(InvalidCredentials) as wrong_password:
        shop.sign_in(CLERK, "not the password", otp=code)

    assert used.value.code == "otp_used"
    assert "already used" in used.value.message
    assert wrong_password.value.code == "invalid_credentials"


def test_the_next_code_signs_in_after_one_was_used(shop, enrolled):
    clerk, _ = enrolled
    shop.sign_in(CLERK, otp=shop.code(clerk))
    shop.clock.advance(minutes=1)

    assert shop.sign_in(CLERK, otp=shop.code(clerk)).id == clerk.id
    assert shop.stored(clerk).totp_last_step is not None


def test_re_enrolment_forgets_the_steps_of_the_old_secret(shop, enrolled):
    clerk, _ = enrolled
    shop.sign_in(CLERK, otp=shop.code(clerk))

    shop.accounts.begin_totp(clerk.id, "", Actor.system())  # the owner resets it

    assert shop.stored(clerk).totp_last_step is None
    assert shop.sign_in(CLERK, otp=shop.code(clerk)).id == clerk.id


def test_a_recovery_code_signs_in_exactly_once(shop, enrolled):
    clerk, codes = enrolled

    assert shop.sign_in(CLERK, otp=codes[0]).id == clerk.id
    with pytest.raises(InvalidCredentials):
        shop.sign_in(CLERK, otp=codes[0])

    assert len(shop.stored(clerk).recovery_codes) == 9
    assert shop.sign_in(CLERK, otp=codes[1]).id == clerk.id
    assert shop.audit.events[-1].action == "account.recovery_code_used"
    assert shop.audit.events[-1].changes == {"recovery_codes_left": [9, 8]}


def test_recovery_codes_of_one_account_do_not_open_another(shop, enrolled):
    other = shop.make("other-clerk@example.com", Role.STAFF)
    shop.accounts.begin_totp(other.id, "", Actor.system())

    with pytest.raises(InvalidCredentials):
        shop.sign_in("other-clerk@example.com", otp=enrolled[1][0])


def test_a_second_enrolment_over_the_api_is_refused_and_two_factor_stays_on(shop, enrolled):
    """Starting a new enrolment (say, a new phone) must not switch the second factor off:
    an abandoned enrolment, or someone holding a stolen token and the password, would
    otherwise leave the account signing in with the password alone."""
    clerk, _ = enrolled

    with pytest.raises(InvalidState):
        shop.accounts.begin_totp(clerk.id, PASSWORD, as_actor(clerk))

    with pytest.raises(OtpRequired):
        shop.sign_in(CLERK)


# --- TOTP: required for staff ------------------------------------------------------------------

@pytest.fixture
def strict_shop() -> Shop:
    return Shop(policy=LoginPolicy(require_totp_for_staff=True))


@pytest.mark.parametrize("role", [Role.STAFF, Role.ADMIN])
def test_a_strict_shop_refuses_staff_without_a_second_factor(strict_shop, role):
    strict_shop.make(CLERK, role)

    with pytest.raises(Forbidden) as raised:
        strict_shop.sign_in(CLERK)

    assert raised.value.code == "totp_enrolment_required"


def test_a_strict_shop_still_answers_invalid_credentials_for_a_wrong_staff_password(
        strict_shop):
    strict_shop.make(CLERK, Role.STAFF)

    strict_shop.fail(CLERK)


def test_a_strict_shop_lets_customers_sign_in_with_a_password(strict_shop):
    account = strict_shop.make()

    assert strict_shop.sign_in() == account


def test_a_strict_shop_lets_enrolled_staff_sign_in_with_a_code(strict_shop):
    clerk = strict_shop.make(CLERK, Role.STAFF)
    strict_shop.accounts.begin_totp(clerk.id, "", Actor.system())

    assert strict_shop.sign_in(CLERK, otp=strict_shop.code(clerk)).id == clerk.id


# --- the audit trail ---------------------------------------------------------------------------

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def event(n: int, at: datetime, entity_type: str = "item", entity_id: str = "item-1",
          actor_id: str | None = "admin-1") -> AuditEvent:
    return AuditEvent(id=f"ev-{n:03d}", at=at, actor_id=actor_id, action=f"{entity_type}.x",
                      entity_type=entity_type, entity_id=entity_id, changes={"n": [None, n]})


@pytest.fixture
def audited() -> Services:
    """The services over a unit of work whose audit trail holds 25 events."""
    uow = MemoryUnitOfWork()
    for n in range(25):
        # several events share a moment, as in one transaction
        uow.audit.record(event(n, T0 + timedelta(seconds=n // 3),
                               entity_type="order" if n % 5 == 0 else "item",
                               entity_id=f"id-{n % 4}", actor_id=f"actor-{n % 3}"))
    return fake_services(uow=uow)


@pytest.fixture
def trail(audited: Services) -> MemoryAuditLog:
    log = audited.uow.audit_trail
    assert isinstance(log, MemoryAuditLog)
    return log


ADMIN = Actor("admin-1", Role.ADMIN)


@pytest.mark.parametrize("actor", [
    pytest.param(Actor("staff-1", Role.STAFF), id="staff"),
    pytest.param(Actor("customer-1", Role.CUSTOMER), id="customer"),
    pytest.param(Actor.anonymous(), id="anonymous"),
])
def test_only_audit_readers_may_list_events(audited, actor):
    with pytest.raises(Forbidden):
        audited.audit.list_events(AuditQuery(), actor)


@pytest.mark.parametrize("actor", [pytest.param(ADMIN, id="admin"),
                                   pytest.param(Actor.system(), id="system")])
def test_admins_and_the_system_may_list_events(audited, actor):
    assert len(audited.audit.list_events(AuditQuery(), actor).entries) == 20


def test_events_are_listed_newest_first(audited):
    entries = audited.audit.list_events(AuditQuery(limit=100), ADMIN).entries

    keys = [(e.at, e.id) for e in entries]
    assert keys == sorted(keys, reverse=True)
    assert entries[0].id == "ev-024"
    assert entries[-1].id == "ev-000"


@pytest.mark.parametrize(("query", "wanted"), [
    (AuditQuery(entity_type="order", limit=100), lambda e: e.entity_type == "order"),
    (AuditQuery(entity_id="id-2", limit=100), lambda e: e.entity_id == "id-2"),
    (AuditQuery(actor_id="actor-1", limit=100), lambda e: e.actor_id == "actor-1"),
    (AuditQuery(entity_type="item", actor_id="actor-0", limit=100),
     lambda e: e.entity_type == "item" and e.actor_id == "actor-0"),
], ids=["entity_type", "entity_id", "actor_id", "combined"])
def test_filters_keep_only_matching_events(audited, trail, query, wanted):
    entries = audited.audit.list_events(query, ADMIN).entries

    expected = [e.id for e in sorted(trail.events, key=lambda e: (e.at, e.id), reverse=True)
                if wanted(e)]
    assert [e.id for e in entries] == expected
    assert expected


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 7, 24, 25])
def test_keyset_pages_list_every_event_once_in_order(audited, limit):
    service = audited.audit
    seen: list[str] = []
    after = None
    for _ in range(30):
        page = service.list_events(AuditQuery(limit=limit, after=after), ADMIN)
        assert len(page.entries) <= limit
        seen.extend(e.id for e in page.entries)
        after = page.next_after
        if after is None:
            break

    everything = service.list_events(AuditQuery(limit=100), ADMIN).entries
    assert seen == [e.id for e in everything]
    assert len(seen) == 25


def test_a_full_last_page_has_no_next_page(audited):
    page = audited.audit.list_events(AuditQuery(limit=25), ADMIN)

    assert len(page.entries) == 25
    assert page.next_after is None


def test_events_recorded_after_a_page_was_read_do_not_shift_the_next_page(audited, trail):
    service = audited.audit
    first = service.list_events(AuditQuery(limit=5), ADMIN)
    trail.record(event(99, T0 + timedelta(hours=1)))

    second = service.list_events(AuditQuery(limit=5, after=first.next_after), ADMIN)

    assert [e.id for e in second.entries] == ["ev-019", "ev-018", "ev-017", "ev-016",
                                              "ev-015"]


def test_a_signed_out_browser_sign_in_opens_nothing_but_others_stay(shop):
    account = shop.make()
    shop.accounts.sign_out("sign-in-1", timedelta(hours=12))

    assert shop.accounts.find_signed_in(account.id, account.token_generation,
                                        "sign-in-1") is None
    assert shop.accounts.find_signed_in(account.id, account.token_generation,
                                        "sign-in-2") == account


def test_a_browser_sign_in_of_a_disabled_account_opens_nothing(shop):
    account = shop.make()
    shop.accounts.disable(SHOPPER, Actor.system())

    assert shop.accounts.find_signed_in(account.id, account.token_generation,
                                        "sign-in-1") is None


def test_a_sign_up_that_finds_no_hashing_slot_is_not_counted(signups):
    signups.hasher.hash = busy  # type: ignore[method-assign]

    for n in range(5):
        with pytest.raises(Unavailable):
            sign_up(signups, n)

    assert signups.registrations.counters == {}
    assert signups.repo.get_by_email("new0@example.com") is None
    del signups.hasher.hash
    sign_up(signups, 0)


# --- unlocking and forgetting ------------------------------------------------------------------

def test_unlock_clears_the_accounts_delays_from_every_address_and_is_audited(nat_shop):
    account = nat_shop.make()
    nat_shop.make("shopper@example.com.au")
    for client in ("203.0.113.7", "198.51.100.2"):
        nat_shop.fail(client=client, times=5)
    nat_shop.fail(times=5)
    nat_shop.fail("shopper@example.com.au", client="203.0.113.7")

    unlocked, cleared = nat_shop.accounts.unlock(" Shopper@Example.com", Actor.system())

    assert (unlocked, cleared) == (account, 3)
    assert nat_shop.sign_in(client="203.0.113.7") == account
    assert set(nat_shop.throttle.counters) == {
        "address:203.0.113.7", "address:198.51.100.2",
        "account:shopper@example.com.au from:203.0.113.7"}
    event = nat_shop.audit.events[-1]
    assert (event.action, event.actor_id, event.entity_id) == (
        "account.unlocked", "system", account.id)
    assert event.changes == {"throttled_addresses": [3, 0]}


def test_only_an_account_manager_unlocks(shop):
    account = shop.make()

    with pytest.raises(Forbidden):
        shop.accounts.unlock(SHOPPER, as_actor(account))


def test_forgetting_old_attempts_keeps_what_still_counts(nat_shop):
    nat_shop.make()
    nat_shop.fail(client="203.0.113.7", times=5)
    nat_shop.accounts.register("new@example.com", PASSWORD, "New", Actor.anonymous(),
                               client="203.0.113.7")
    nat_shop.clock.advance(hours=2)
    nat_shop.fail(client="198.51.100.2")

    assert nat_shop.accounts.forget_old_attempts() == 1  # the sign-up, past its hour
    assert len(nat_shop.throttle.counters) == 4  # a delay may still hold for a day
    nat_shop.clock.advance(hours=22, seconds=1)
    assert nat_shop.accounts.forget_old_attempts() == 2  # the first address's
    assert set(nat_shop.throttle.counters) == {
        "address:198.51.100.2", "account:shopper@example.com from:198.51.100.2"}


# --- look-alike emails -------------------------------------------------------------------------

@pytest.mark.parametrize("look_alike", [
    "\uff53\uff48\uff4f\uff50\uff50\uff45\uff52@example.com",  # full-width
    "\uff33HOPPER@EXAMPLE.COM", "shopper@\uff45xample.com"])
def test_a_look_alike_of_an_email_is_the_same_email(shop, look_alike):
    account = shop.make()

    with pytest.raises(Conflict):
        shop.accounts.register(look_alike, PASSWORD, "Twin", Actor.anonymous())
    assert shop.sign_in(look_alike) == account


@pytest.mark.parametrize("look_alike", [
    "sh\u043epper@example.com",  # Cyrillic o
    "shopper@ex\u0430mple.com",  # Cyrillic a in the domain
    "\u0455hopper@example.com",  # Cyrillic dze
])
def test_an_email_mixing_alphabets_is_refused(shop, look_alike):
    shop.make()

    with pytest.raises(ValidationFailed) as refused:
        shop.accounts.register(look_alike, PASSWORD, "Twin", Actor.anonymous())

    assert "email" in refused.value.details


def test_an_email_in_one_other_alphabet_is_welcome(shop):
    cyrillic = "\u0438\u0432\u0430\u043d@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444"

    account = shop.accounts.register(cyrillic, PASSWORD, "Ivan", Actor.anonymous())

    assert account.email == cyrillic

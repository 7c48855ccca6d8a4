"""Argon2PasswordHasher with cheap parameters: the real algorithm, not its cost; and the
bound on how many hashes run at once."""

from __future__ import annotations

import threading
import time

import pytest

from minimart.adapters.passwords import Argon2PasswordHasher, BoundedPasswordHasher, HashingBusy
from minimart.domain.errors import Unavailable
from tests.fakes.common import PlainTextPasswordHasher

CHEAP = {"time_cost": 1, "memory_cost": 64, "parallelism": 1}
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def hasher():
    return Argon2PasswordHasher(**CHEAP)


@pytest.fixture(scope="module")
def stored(hasher):
    return hasher.hash(PASSWORD)


def test_a_hash_is_argon2id_and_does_not_contain_the_password(stored):
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


def test_the_right_password_verifies(hasher, stored):
    assert hasher.verify(stored, PASSWORD) is True


@pytest.mark.parametrize("attempt", ["correct horse batter", "Correct horse battery", "",
                                     PASSWORD + " "])
def test_a_wrong_password_does_not_verify(hasher, stored, attempt):
    assert hasher.verify(stored, attempt) is False


def test_hashing_is_salted(hasher, stored):
    again = hasher.hash(PASSWORD)

    assert again != stored
    assert hasher.verify(again, PASSWORD)


@pytest.mark.parametrize("garbage", ["", "plain$" + PASSWORD, "$argon2id$v=19$garbage",
                                     "not a hash at all"])
def test_a_garbage_hash_verifies_nothing_and_raises_nothing(hasher, garbage):
    assert hasher.verify(garbage, PASSWORD) is False


def test_a_hash_made_with_the_current_parameters_needs_no_rehash(hasher, stored):
    assert hasher.needs_rehash(stored) is False


@pytest.mark.parametrize("changed", [{"time_cost": 2}, {"memory_cost": 128},
                                     {"parallelism": 2}])
def test_a_hash_made_with_other_parameters_needs_a_rehash(stored, changed):
    newer = Argon2PasswordHasher(**{**CHEAP, **changed})

    assert newer.needs_rehash(stored) is True
    assert newer.verify(stored, PASSWORD) is True


def test_the_dummy_hash_is_a_valid_hash_that_the_usual_passwords_do_not_match(hasher):
    dummy = hasher.dummy_hash()

    assert dummy.startswith("$argon2id$")
    assert hasher.dummy_hash() == dummy
    assert hasher.needs_rehash(dummy) is False
    assert hasher.verify(dummy, PASSWORD) is False
    assert hasher.verify(dummy, "") is False


# --- at most so many hashes at once ---------------------------------------------------------

class GatedHasher(PlainTextPasswordHasher):
    """Hashes only when the test opens the gate, counting how many are inside at once."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.inside = 0
        self.most_inside = 0
        self.calls = 0
        self._lock = threading.Lock()

    def hash(self, password: str) -> str:
        with self._lock:
            self.calls += 1
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
        try:
            assert self.gate.wait(timeout=10)
            return super().hash(password)
        finally:
            with self._lock:
                self.inside -= 1

    def verify(self, password_hash: str, password: str) -> bool:
        return self.hash(password) == password_hash


def test_the_real_hasher_works_through_the_bound(stored):
    bounded = BoundedPasswordHasher(Argon2PasswordHasher(**CHEAP), slots=2, wait_seconds=1)

    assert bounded.verify(stored, PASSWORD) is True
    assert bounded.verify(bounded.hash(PASSWORD), PASSWORD) is True
    assert bounded.verify(bounded.dummy_hash(), PASSWORD) is False
    assert bounded.needs_rehash(stored) is False


def test_no_more_than_the_slots_hash_at_once_and_the_others_wait_their_turn():
    inner = GatedHasher()
    bounded = BoundedPasswordHasher(inner, slots=2, wait_seconds=10)
    results: list[bool] = []
    callers = [threading.Thread(target=lambda: results.append(bounded.verify("plain$pw", "pw")))
               for _ in range(6)]
    for caller in callers:
        caller.start()
    deadline = time.monotonic() + 5
    while inner.calls < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # time enough for the other four to barge in, if they could

    assert (inner.calls, inner.inside) == (2, 2)
    inner.gate.set()
    for caller in callers:
        caller.join(timeout=10)
    assert results == [True] * 6
    assert inner.most_inside == 2


def test_a_caller_that_finds_no_slot_in_time_is_refused_as_busy_without_hashing():
    inner = GatedHasher()
    inner.gate.set()
    bounded = BoundedPasswordHasher(inner, slots=1, wait_seconds=0.05)

    with bounded.slot():  # the one slot is taken meanwhile
        started = time.monotonic()
        with pytest.raises(HashingBusy) as raised:
            bounded.hash(PASSWORD)
        waited = time.monotonic() - started
        with pytest.raises(HashingBusy):
            bounded.verify("plain$" + PASSWORD, PASSWORD)

    assert isinstance(raised.value, Unavailable)
    assert raised.value.code == "unavailable"
    assert 0.04 <= waited < 1
    assert inner.calls == 0
    assert bounded.hash(PASSWORD) == "plain$" + PASSWORD  # free again


def test_a_slot_is_given_back_when_the_hasher_underneath_fails():
    inner = GatedHasher()
    bounded = BoundedPasswordHasher(inner, slots=1, wait_seconds=0.05)
    inner.hash = lambda password: 1 / 0  # type: ignore[method-assign]

    for _ in range(3):
        with pytest.raises(ZeroDivisionError):
            bounded.hash(PASSWORD)

    with bounded.slot():
        pass

"""Argon2PasswordHasher with cheap parameters: the real algorithm, not its cost."""

from __future__ import annotations

import pytest

from minimart.adapters.passwords import Argon2PasswordHasher

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

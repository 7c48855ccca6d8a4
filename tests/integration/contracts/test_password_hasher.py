"""PasswordHasher's contract: the plain-text fake and Argon2 (alone and bounded) verify the
password they hashed and nothing else, and refuse what is no hash of theirs without raising."""

from __future__ import annotations

from typing import Any

import pytest

from minimart.adapters.passwords import Argon2PasswordHasher, BoundedPasswordHasher
from tests.fakes.common import PlainTextPasswordHasher


def cheap_argon2() -> Argon2PasswordHasher:
    return Argon2PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)


@pytest.fixture(params=["fake", "argon2", "bounded"])
def hasher(request: pytest.FixtureRequest) -> Any:
    if request.param == "fake":
        return PlainTextPasswordHasher()
    if request.param == "argon2":
        return cheap_argon2()
    return BoundedPasswordHasher(cheap_argon2(), slots=2, wait_seconds=5)


def test_a_hash_verifies_its_password_and_no_other(hasher):
    hashed = hasher.hash("correct horse")

    assert hasher.verify(hashed, "correct horse") is True
    assert hasher.verify(hashed, "correct horse ") is False
    assert hasher.verify(hashed, "Correct horse") is False
    assert hasher.verify(hashed, "") is False


def test_a_fresh_hash_needs_no_rehash(hasher):
    assert hasher.needs_rehash(hasher.hash("correct horse")) is False


@pytest.mark.parametrize("not_a_hash", ["", "correct horse", "$argon2id$v=19$broken"])
def test_what_is_no_hash_verifies_nothing_and_does_not_raise(hasher, not_a_hash):
    assert hasher.verify(not_a_hash, "correct horse") is False


def test_the_dummy_hash_is_one_hash_that_verifies_no_guess(hasher):
    dummy = hasher.dummy_hash()

    assert hasher.dummy_hash() == dummy
    assert hasher.verify(dummy, "correct horse") is False
    assert hasher.verify(dummy, "password") is False

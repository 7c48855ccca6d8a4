"""Argon2id password hashing (argon2-cffi): slow, salted, and re-hashed when costs change;
and a bound on how many hashes run at once in the process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from minimart.domain.errors import Unavailable
from minimart.domain.ports import accounts as ports


class Argon2PasswordHasher:
    def __init__(self, time_cost: int = 3, memory_cost: int = 65536, parallelism: int = 4) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost,
                                      parallelism=parallelism)

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    @cached_property
    def _dummy(self) -> str:
        return self._hasher.hash("not a password anyone has")

    def dummy_hash(self) -> str:
        return self._dummy


class HashingBusy(Unavailable):
    """Every hashing slot stayed taken for the whole wait: 503 `unavailable`, retry is safe."""


class BoundedPasswordHasher:
    """At most `slots` hashes or verifications at once in this process, whatever the
    hasher underneath.

    Argon2 takes tens of milliseconds and 64 MiB apiece and releases the GIL, so a burst
    of sign-ups or guesses would otherwise take every core from the requests that only
    read. A caller that finds no slot within `wait_seconds` is refused with HashingBusy
    instead of queueing behind the burst.
    """

    def __init__(self, hasher: ports.PasswordHasher, slots: int, wait_seconds: float) -> None:
        self._hasher = hasher
        self._slots = threading.BoundedSemaphore(slots)
        self._wait = wait_seconds

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the slots; HashingBusy if none frees up in time."""
        if not self._slots.acquire(timeout=self._wait):
            raise HashingBusy("the server is busy checking passwords; nothing was changed, "
                              "please try again in a moment")
        try:
            yield
        finally:
            self._slots.release()

    def hash(self, password: str) -> str:
        with self.slot():
            return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        with self.slot():
            return self._hasher.verify(password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.needs_rehash(password_hash)

    @cached_property
    def _dummy(self) -> str:
        with self.slot():  # the hasher underneath makes it on its first call
            return self._hasher.dummy_hash()

    def dummy_hash(self) -> str:
        return self._dummy

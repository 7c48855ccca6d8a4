"""Abuse racing on PostgreSQL, through the whole app: forty wrong passwords for one account,
or forty sign-ups from one address, released together by a barrier, get no more password
checks or hashes than the limit allows; counted by a wrapper around the app's hasher."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import func, select
from webtest import TestApp

from minimart import make_app
from minimart.adapters.sqlalchemy.tables import accounts
from minimart.domain.actors import Actor, Role
from minimart.domain.ports.accounts import PasswordHasher
from tests.conftest import FAST_ARGON2, TEST_JWT_SECRET, _empty_all_tables

pytestmark = pytest.mark.postgres

RACERS = 40
LIMIT = 5
EMAIL, PASSWORD = "shopper@example.com", "a shopper's long password"
ADDRESS = "203.0.113.7"


class CountingHasher:
    """The app's hasher, counting the password checks and hashes that reach it."""

    def __init__(self, hasher: PasswordHasher) -> None:
        self._hasher = hasher
        self._lock = threading.Lock()
        self.verified = 0
        self.hashed = 0

    def hash(self, password: str) -> str:
        with self._lock:
            self.hashed += 1
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        with self._lock:
            self.verified += 1
        return self._hasher.verify(password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.needs_rehash(password_hash)

    def dummy_hash(self) -> str:
        return self._hasher.dummy_hash()


@pytest.fixture
def app(postgres_url: str) -> Iterator[Any]:
    """The app with a limit of LIMIT failed sign-ins per account and sign-ups per address,
    a shopper, and a counting hasher."""
    app = make_app({"minimart.environment": "test", "minimart.database_url": postgres_url,
                    "minimart.jwt_secret": TEST_JWT_SECRET, **FAST_ARGON2,
                    "minimart.login.max_failures_per_account": str(LIMIT),
                    "minimart.registration.max_per_address": str(LIMIT),
                    "minimart.argon2.max_wait_seconds": "60"}, environ={})
    container = app.registry.container
    _empty_all_tables(container.engine)
    container.in_transaction(lambda services: services.accounts.create_account(
        EMAIL, PASSWORD, "Shopper", Role.CUSTOMER, Actor.system()))
    container.adapters = replace(container.adapters,
                                 hasher=CountingHasher(container.adapters.hasher))
    yield app
    container.engine.dispose()


def race(app: Any, attempt: Callable[[TestApp], Any]) -> list[int]:
    """RACERS attempts, each on its own thread, released at once; their statuses."""
    start = threading.Barrier(RACERS)
    statuses: list[int] = []

    def run() -> None:
        client = TestApp(app, extra_environ={"REMOTE_ADDR": ADDRESS})
        start.wait(timeout=30)
        statuses.append(attempt(client).status_int)

    racers = [threading.Thread(target=run) for _ in range(RACERS)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(timeout=120)
    return sorted(statuses)


def test_forty_racing_wrong_passwords_get_only_the_limits_worth_of_checks(app):
    hasher = app.registry.container.adapters.hasher

    statuses = race(app, lambda client: client.post_json(
        "/api/v1/auth/token", {"email": EMAIL, "password": "a wrong guess"},
        expect_errors=True))

    assert hasher.verified == LIMIT
    assert statuses == [401] * LIMIT + [429] * (RACERS - LIMIT)
    TestApp(app, extra_environ={"REMOTE_ADDR": ADDRESS}).post_json(
        "/api/v1/auth/token", {"email": EMAIL, "password": PASSWORD}, status=429)
    assert hasher.verified == LIMIT
    # the guesses delay their own address only: the owner elsewhere still signs in
    TestApp(app).post_json("/api/v1/auth/token", {"email": EMAIL, "password": PASSWORD},
                           status=200)


def test_forty_racing_sign_ups_from_one_address_make_only_the_limits_worth(app):
    hasher = app.registry.container.adapters.hasher
    numbers = itertools.count()

    statuses = race(app, lambda client: client.post_json(
        "/api/v1/accounts", {"email": f"racer{next(numbers)}@example.com",
                             "password": PASSWORD, "name": "Racer"}, expect_errors=True))

    assert hasher.hashed == LIMIT
    assert statuses == [201] * LIMIT + [429] * (RACERS - LIMIT)
    with app.registry.container.engine.connect() as connection:
        made = connection.execute(select(func.count()).select_from(accounts)
                                  .where(accounts.c.email.like("racer%"))).scalar_one()
    assert made == LIMIT

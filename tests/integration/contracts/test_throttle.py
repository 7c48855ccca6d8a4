"""Throttle's contract: the memory fake and the SQLAlchemy adapters (the login and the
registration throttle, on SQLite and PostgreSQL) count attempts alike, in fixed windows
(`take`) and in growing waits (`back_off`); on PostgreSQL, racing attempts count exactly."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.integration.contracts.conftest import T0, SqlStore

WINDOW = timedelta(minutes=15)
THROTTLE_NAMES = ["login_throttle", "registration_throttle"]  # as Repos names them
THROTTLES = pytest.mark.parametrize("which", THROTTLE_NAMES)


def take(store: Any, which: str, key: str = "address:203.0.113.7", limit: int = 3,
         at: datetime = T0) -> datetime | None:
    return store.work(lambda r: getattr(r, which).take(key, limit, at, WINDOW))


def takes(store: Any, which: str, times: int, **given: Any) -> list[datetime | None]:
    return [take(store, which, **given) for _ in range(times)]


class TestThrottle:
    @pytest.fixture(params=THROTTLE_NAMES)
    def which(self, request: pytest.FixtureRequest) -> str:
        """The login throttle and the registration throttle keep the same promises."""
        return request.param

    def test_attempts_count_up_to_the_limit_then_are_refused_until_the_window_ends(
            self, store, which):
        assert takes(store, which, 3) == [None] * 3

        assert take(store, which) == T0 + WINDOW
        assert take(store, which, at=T0 + timedelta(minutes=5)) == T0 + WINDOW

    def test_a_refused_attempt_counts_nothing(self, store, which):
        takes(store, which, 5)
        store.work(lambda r: getattr(r, which).give_back("address:203.0.113.7"))

        assert take(store, which) is None
        assert take(store, which) == T0 + WINDOW

    def test_a_new_window_starts_when_the_old_one_has_passed(self, store, which):
        takes(store, which, 3)
        assert take(store, which, at=T0 + WINDOW - timedelta(seconds=1)) == T0 + WINDOW

        later = T0 + WINDOW
        assert takes(store, which, 3, at=later) == [None] * 3
        assert take(store, which, at=later) == later + WINDOW

    def test_a_limit_lower_than_the_count_refuses(self, store, which):
        takes(store, which, 3, limit=10)

        assert take(store, which, limit=3) == T0 + WINDOW
        assert take(store, which, limit=4) is None

    def test_give_back_uncounts_one_and_a_count_of_none_is_forgotten(self, store, which):
        takes(store, which, 2)
        for _ in range(3):  # once more than counted: harmless
            store.work(lambda r: getattr(r, which).give_back("address:203.0.113.7"))

        assert takes(store, which, 3) == [None] * 3
        assert take(store, which) == T0 + WINDOW

    def test_giving_back_keeps_the_windows_start(self, store, which):
        takes(store, which, 3)
        store.work(lambda r: getattr(r, which).give_back("address:203.0.113.7"))

        assert take(store, which, at=T0 + timedelta(minutes=10)) is None
        assert take(store, which, at=T0 + timedelta(minutes=10)) == T0 + WINDOW

    def test_clear_forgets_the_count(self, store, which):
        takes(store, which, 3)
        store.work(lambda r: getattr(r, which).clear("address:203.0.113.7"))

        assert takes(store, which, 3) == [None] * 3

    def test_keys_and_throttles_are_counted_apart(self, store, which):
        other = ("registration_throttle" if which == "login_throttle"
                 else "login_throttle")
        takes(store, which, 3)

        assert take(store, which, key="address:198.51.100.2") is None
        assert take(store, which, key="account:shopper@example.com") is None
        assert take(store, other) is None


PAIR = "account:shopper@example.com from:203.0.113.7"


def back_off(store: Any, at: datetime = T0, key: str = PAIR) -> datetime | None:
    """Two free attempts, then a wait of a minute doubling per attempt; a day forgets."""
    return store.work(lambda r: r.login_throttle.back_off(
        key, at, lambda n: timedelta(0) if n < 2 else timedelta(minutes=2 ** (n - 2)),
        timedelta(days=1)))


class TestBackOff:
    def test_attempts_past_the_free_ones_wait_longer_each_time(self, store):
        assert [back_off(store), back_off(store)] == [None, None]
        assert back_off(store) == T0 + timedelta(minutes=1)
        assert back_off(store, T0 + timedelta(minutes=1)) is None
        assert back_off(store, T0 + timedelta(minutes=2)) == T0 + timedelta(minutes=3)
        assert back_off(store, T0 + timedelta(minutes=3)) is None
        assert back_off(store, T0 + timedelta(minutes=3)) == T0 + timedelta(minutes=7)

    def test_an_attempt_dated_before_the_last_one_within_the_free_ones_counts(self, store):
        """Processes' clocks differ a little: a free attempt is never refused for that."""
        back_off(store, T0 + timedelta(seconds=1))

        assert back_off(store, T0) is None
        assert back_off(store, T0) == T0 + timedelta(seconds=61)  # from the latest

    def test_a_key_quiet_for_a_day_starts_again(self, store):
        for at in (T0, T0, T0):
            back_off(store, at)

        later = T0 + timedelta(days=1)
        assert [back_off(store, later), back_off(store, later)] == [None, None]
        assert back_off(store, later) == later + timedelta(minutes=1)

    def test_clear_prefixed_forgets_one_accounts_keys_only(self, store):
        keys = ["account:a_b@example.com", "account:a_b@example.com from:203.0.113.7",
                "account:a_b@example.com from:198.51.100.2", "account:axb@example.com",
                "account:axb@example.com from:203.0.113.7", "account:a_b@example.com.au",
                "address:203.0.113.7"]
        for key in keys:
            back_off(store, key=key)

        cleared = store.work(lambda r: r.login_throttle.clear_prefixed(
            "account:a_b@example.com", "account:a_b@example.com from:"))

        assert cleared == 3
        assert [back_off(store, key=key) for key in keys] == [None] * 3 + [None] * 4
        assert [back_off(store, key=key) for key in keys[3:]] == [T0 + timedelta(minutes=1)] * 4

    def test_forget_before_drops_only_older_counters(self, store):
        old = "address:192.0.2.1"
        take(store, "login_throttle", key=old)
        back_off(store, T0 + timedelta(hours=1))
        take(store, "registration_throttle", key=old, at=T0 + timedelta(hours=1))

        forgot = store.work(lambda r: r.login_throttle.forget_before(T0 + timedelta(minutes=30)))

        assert forgot == 1
        assert takes(store, "login_throttle", 3, key=old) == [None, None, None]  # a fresh window
        assert back_off(store, T0 + timedelta(hours=1)) is None
        assert back_off(store, T0 + timedelta(hours=1)) == T0 + timedelta(hours=1, minutes=1)


@pytest.mark.postgres
@THROTTLES
def test_of_forty_racing_attempts_exactly_the_limits_worth_are_counted(
        postgres_store: SqlStore, which: str):
    start = threading.Barrier(40)

    def attempt(_: int) -> datetime | None:
        start.wait(timeout=10)
        return take(postgres_store, which, limit=5)

    with ThreadPoolExecutor(max_workers=40) as pool:
        results = list(pool.map(attempt, range(40)))

    assert results.count(None) == 5
    assert results.count(T0 + WINDOW) == 35


@pytest.mark.postgres
def test_of_forty_racing_attempts_of_a_pair_only_the_free_ones_are_counted(
        postgres_store: SqlStore):
    start = threading.Barrier(40)

    def attempt(_: int) -> datetime | None:
        start.wait(timeout=10)
        return back_off(postgres_store, key="account:racing@example.com from:203.0.113.7")

    with ThreadPoolExecutor(max_workers=40) as pool:
        results = list(pool.map(attempt, range(40)))

    assert results.count(None) == 2
    assert results.count(T0 + timedelta(minutes=1)) == 38

"""IdempotencyKeys' contract: the memory fake and the SQLAlchemy adapter (SQLite and
PostgreSQL) give an account's key to one order, answer every later claim with it, free it
only for its own order and forget old keys alike; on PostgreSQL, of racing claims one wins."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest

from minimart.domain.orders import ClaimedKey
from tests.integration.contracts.conftest import T0, SqlStore

HOUR = timedelta(hours=1)


def claim(store: Any, order_id: str, *, account: str = "account-1", key: str = "key-1",
          fingerprint: str = "fp-1", at: datetime = T0) -> ClaimedKey | None:
    return store.work(lambda r: r.idempotency.claim(account, key, fingerprint, order_id, at))


def release(store: Any, order_id: str, *, account: str = "account-1",
            key: str = "key-1") -> None:
    store.work(lambda r: r.idempotency.release(account, key, order_id))


def test_a_free_key_is_taken_and_every_later_claim_names_its_order_and_request(store):
    assert claim(store, "order-1") is None

    assert claim(store, "order-2") == ClaimedKey("order-1", "fp-1")
    assert claim(store, "order-3", fingerprint="fp-other",
                 at=T0 + HOUR) == ClaimedKey("order-1", "fp-1")


def test_keys_belong_to_their_account(store):
    claim(store, "order-1")

    assert claim(store, "order-2", account="account-2") is None
    assert claim(store, "order-3", key="key-2") is None
    assert claim(store, "order-4", account="account-2") == ClaimedKey("order-2", "fp-1")


def test_releasing_a_key_for_its_order_frees_it_for_a_new_order(store):
    claim(store, "order-1")

    release(store, "order-1")

    assert claim(store, "order-2", fingerprint="fp-2") is None
    assert claim(store, "order-3") == ClaimedKey("order-2", "fp-2")


def test_releasing_a_key_for_another_order_leaves_it_taken(store):
    claim(store, "order-1")

    release(store, "order-2")
    release(store, "order-1", account="account-2")
    release(store, "order-1", key="key-2")

    assert claim(store, "order-3") == ClaimedKey("order-1", "fp-1")


def test_forget_before_drops_only_keys_taken_before_the_cutoff_and_counts_them(store):
    claim(store, "order-1", key="old-1", at=T0)
    claim(store, "order-2", key="old-2", at=T0 + HOUR - timedelta(microseconds=1))
    claim(store, "order-3", key="edge", at=T0 + HOUR)
    claim(store, "order-4", key="new", at=T0 + 2 * HOUR)

    forgot = store.work(lambda r: r.idempotency.forget_before(T0 + HOUR))

    assert forgot == 2
    assert claim(store, "order-5", key="old-1") is None
    assert claim(store, "order-6", key="old-2") is None
    assert claim(store, "order-7", key="edge") == ClaimedKey("order-3", "fp-1")
    assert claim(store, "order-8", key="new") == ClaimedKey("order-4", "fp-1")
    assert store.work(lambda r: r.idempotency.forget_before(T0)) == 0


@pytest.mark.postgres
def test_of_twenty_racing_claims_of_one_key_one_wins_and_the_rest_see_it(
        postgres_store: SqlStore):
    start = threading.Barrier(20)

    def racer(n: int) -> ClaimedKey | None:
        start.wait(timeout=10)
        return claim(postgres_store, f"order-{n}", fingerprint=f"fp-{n}")

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(racer, range(20)))

    winners = [n for n, answer in enumerate(answers) if answer is None]
    assert len(winners) == 1
    assert set(answers) - {None} == {ClaimedKey(f"order-{winners[0]}", f"fp-{winners[0]}")}

"""Failover: a primary with a synchronous standby and two `pserve production.ini` processes
whose DATABASE_URL names both hosts with `target_session_attrs=read-write`. Mid-way through
an order storm the primary is killed (`pg_ctl stop -m immediate`) and, a moment later, the
standby promoted by the test itself (`pg_ctl promote`, what a failover manager such as
pg_auto_failover or Patroni would do; neither is installed here).

Nothing acknowledged is lost (every order answered 200/201 is on the new primary, its stock
taken once); the switch costs fast 503 `unavailable` answers, never a hang or a 500; the same
processes write again within seconds of the promotion; and the catalog reads of
`minimart.database.replica_url` (the same two hosts, `target_session_attrs=prefer-standby`)
go on answering before, during and after.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.pool import NullPool

from minimart.adapters.sqlalchemy.database import make_engine
from tests.e2e.test_production_processes import (
    ADMIN_PASSWORD,
    STORM,
    Deployment,
    call,
    seed,
)
from tests.integration.conftest import free_port, localstripe_url  # noqa: F401
from tests.support.postgres_cluster import Cluster, cluster_directory

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

STOCKED = 60
CLIENTS = 8
KEYS_PER_CLIENT = 10  # 80 orders of one unit for 60 units: the last ones are refused 409
KILL_AFTER = 20  # orders placed before the primary dies
DETECTION_SECONDS = 1.0  # the primary is down this long before the standby is promoted
FAILS_WITHIN = 6.0  # production.ini's answer_timeout_seconds: no answer may take longer
RECOVERS_WITHIN = 15.0  # from the promotion to a process's first write
LIVE = "status IN ('pending_payment', 'paid', 'fulfilled')"  # orders holding their stock


def multihost_url(clusters: Sequence[Cluster], target_session_attrs: str,
                  extra: str = "") -> str:
    """SQLAlchemy's multi-host form for psycopg: `?host=h1:p1&host=h2:p2`; libpq (psycopg)
    tries the hosts in order and keeps the first with the wanted session attributes."""
    hosts = "&".join(f"host=127.0.0.1:{cluster.port}" for cluster in clusters)
    return (f"postgresql+psycopg://postgres@/minimart?{hosts}"
            f"&target_session_attrs={target_session_attrs}{extra}")


@pytest.fixture
def primary_and_standby() -> Iterator[tuple[Cluster, Cluster]]:
    """A primary whose every commit waits for the standby to flush it (synchronous
    replication through a slot): what the primary acknowledged, the standby has."""
    with cluster_directory("minimart-failover-") as root:
        primary = Cluster(root, "primary", free_port())
        standby = Cluster(root, "standby", free_port())
        try:
            # command-line settings: the standby does not inherit them, so once promoted it
            # does not wait for a synchronous standby it no longer has
            primary.initdb().start(synchronous_standby_names="standby",
                                   synchronous_commit="on")
            standby.clone_of(primary, slot="standby").start(cluster_name="standby")
            primary.wait_for_synchronous_standby("standby")
            primary.psql("CREATE DATABASE minimart")
            yield primary, standby
        finally:
            standby.stop()
            primary.stop()


@dataclass(frozen=True, slots=True)
class Attempt:
    key: str
    root: str
    status: int  # 0: no HTTP answer at all (refused, reset, timed out)
    body: Any
    started: float
    ended: float

    @property
    def seconds(self) -> float:
        return self.ended - self.started


class OrderStorm:
    """Clients placing one-unit orders with Idempotency-Keys, alternating between the
    processes, each retrying a 503 (`unavailable`: retry is safe) with the same key until
    the order is answered 200/201 or refused 409, for `seconds` at most in all."""

    def __init__(self, roots: Sequence[str], item_id: str, token: str,
                 seconds: float = 90) -> None:
        self.roots = roots
        self.deadline = time.monotonic() + seconds
        self.body = {"lines": [{"item_id": item_id, "quantity": 1}]}
        self.token = token
        self.attempts: list[Attempt] = []
        self.placed_enough = threading.Event()
        self._lock = threading.Lock()

    def client(self, number: int) -> None:
        for n in range(KEYS_PER_CLIENT):
            if time.monotonic() > self.deadline:
                return  # the keys left unplaced fail the test
            key, root = f"failover-{number}-{n}", self.roots[(number + n) % len(self.roots)]
            while self._attempt(key, root) == 503 and time.monotonic() < self.deadline:
                time.sleep(0.1)
            time.sleep(0.05)

    def _attempt(self, key: str, root: str) -> int:
        started = time.monotonic()
        try:
            status, body = call("POST", f"{root}/api/v1/orders", self.body, self.token,
                                {"Idempotency-Key": key}, timeout=FAILS_WITHIN + 10)
        except (OSError, http.client.HTTPException) as error:
            status, body = 0, repr(error)
        with self._lock:
            self.attempts.append(Attempt(key, root, status, body, started, time.monotonic()))
            if sum(a.status == 201 for a in self.attempts) >= KILL_AFTER:
                self.placed_enough.set()
        return status


def test_killing_the_primary_mid_storm_loses_no_order_and_writes_resume_on_the_standby(
        primary_and_standby, localstripe_url):  # noqa: F811
    primary, standby = primary_and_standby
    shop = Deployment(multihost_url((primary, standby), "read-write"), localstripe_url)
    # reads on a standby while there is one, on whichever server is left when there is not
    reads = multihost_url((primary, standby), "prefer-standby",
                          "&application_name=minimart-reads")
    try:
        shop.cli("db", "upgrade")
        shop.cli("create-account", "--email", "owner@example.com", "--name", "Owner",
                 "--role", "admin", env={"MINIMART_PASSWORD": ADMIN_PASSWORD})
        roots = [shop.serve(env={"DATABASE_REPLICA_URL": reads}, settings=STORM)
                 for _ in range(2)]
        item_id, shopper = seed(roots[0], stock=STOCKED)
        assert all(call("GET", f"{root}/api/v1/items")[0] == 200 for root in roots)
        assert reads_on(standby) and not reads_on(primary)  # browsing reads the standby
        assert served_by(shop.database_url) == (primary.port, False)
        assert served_by(reads) == (standby.port, True)

        storm = OrderStorm(roots, item_id, shopper)
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            clients = [pool.submit(storm.client, n) for n in range(CLIENTS)]
            assert storm.placed_enough.wait(60), storm.attempts[-5:]
            killed = time.monotonic()
            primary.stop()  # pg_ctl stop -m immediate: no checkpoint, connections cut
            browsing = [timed_get(f"{root}/api/v1/items") for root in roots]
            time.sleep(max(0.0, killed + DETECTION_SECONDS - time.monotonic()))
            promoting = time.monotonic()
            standby.promote()
            promoted = time.monotonic()
            for client in clients:
                client.result()
        ended = time.monotonic()

        assert all(process.poll() is None for process in shop.processes)  # never restarted
        figures = check_answers(storm.attempts, roots, killed, promoting)
        check_nothing_acknowledged_was_lost(standby, storm.attempts, item_id)

        # browsing went on from the standby while the primary was gone, and after it
        assert [status for status, _ in browsing] == [200, 200], browsing
        assert max(seconds for _, seconds in browsing) < FAILS_WITHIN
        stock = int(standby.psql(f"SELECT stock FROM items WHERE id = '{item_id}'",
                                 "minimart"))
        for root in roots:
            status, listed = call("GET", f"{root}/api/v1/items")
            assert status == 200 and [i["stock"] for i in listed["data"]] == [stock]
        assert reads_on(standby)
        assert all(call("GET", f"{root}/readyz")[0] == 200 for root in roots)
        # new connections of either URL now find the promoted standby
        assert served_by(shop.database_url) == served_by(reads) == (standby.port, False)
    finally:
        shop.stop()

    print(f"\nfailover: primary killed after {KILL_AFTER} orders with "
          f"{figures['in_flight']} requests in flight, standby promoted "
          f"{promoting - killed:.1f} s later (pg_ctl promote {promoted - promoting:.2f} s); "
          f"first write after the promotion, per process: "
          f"{', '.join(f'{s:.2f} s' for s in figures['recovery'])}; "
          f"{figures['unavailable']} answers 503 during the switch (the last ending "
          f"{figures['last_unavailable']:+.2f} s from the promotion), its slowest answer "
          f"{figures['slowest_in_switch']:.2f} s (slowest of the storm "
          f"{figures['slowest']:.2f} s); browsing during the outage "
          f"{', '.join(f'{s * 1000:.0f} ms' for _, s in browsing)}; {figures['placed']} orders "
          f"placed ({figures['replayed']} of them answered 200 to a retry that found "
          f"the order its 503 had left), {figures['refused']} refused 409, in "
          f"{len(storm.attempts)} requests "
          f"over {ended - killed + figures['before_kill']:.1f} s")


def reads_on(cluster: Cluster) -> bool:
    """Whether the processes' catalog-read pool holds a connection to `cluster`."""
    return int(cluster.psql("SELECT count(*) FROM pg_stat_activity "
                            "WHERE application_name = 'minimart-reads'")) > 0


def served_by(url: str) -> tuple[int, bool]:
    """The port of the server a new connection of `url` reaches, and whether it is a standby."""
    engine = make_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            port, standby = connection.execute(
                text("SELECT inet_server_port(), pg_is_in_recovery()")).one()
            return port, standby
    finally:
        engine.dispose()


def timed_get(url: str) -> tuple[int, float]:
    started = time.monotonic()
    status, _ = call("GET", url, timeout=FAILS_WITHIN + 10)
    return status, time.monotonic() - started


def check_answers(attempts: list[Attempt], roots: Sequence[str], killed: float,
                  promoting: float) -> dict[str, Any]:
    """Every answer the app's own, the switch's 503s fast, every key settled; the figures."""
    assert {a.status for a in attempts} <= {200, 201, 409, 503}, \
        [(a.status, a.body) for a in attempts if a.status not in (200, 201, 409, 503)]
    unavailable = [a for a in attempts if a.status == 503]
    assert all(a.body["error"]["code"] == "unavailable" for a in unavailable)
    assert all(a.ended > killed for a in unavailable)  # none but for the failover
    assert unavailable, "no request met the switch: the storm ended before the kill"
    slowest = max(attempts, key=lambda a: a.seconds)
    assert slowest.seconds < FAILS_WITHIN, slowest

    recovery = []
    for root in roots:  # each process on its own: no restart, no shared state
        writes = [a.ended for a in attempts
                  if a.root == root and a.started > killed and a.status in (200, 201)]
        assert writes, f"{root} wrote nothing after the kill"
        recovery.append(min(writes) - promoting)
        assert recovery[-1] < RECOVERS_WITHIN
    last_unavailable = max(a.ended for a in unavailable) - promoting
    assert last_unavailable < RECOVERS_WITHIN  # the switch is over, for every request
    switch = [a for a in attempts
              if a.ended > killed and a.started < promoting + max(recovery)]

    final: dict[str, Attempt] = {}
    for attempt in sorted(attempts, key=lambda a: a.ended):
        final[attempt.key] = attempt
    assert len(final) == CLIENTS * KEYS_PER_CLIENT
    assert all(a.status in (200, 201, 409) for a in final.values())  # every key settled
    return {"recovery": recovery, "unavailable": len(unavailable),
            "last_unavailable": last_unavailable,
            "slowest_in_switch": max(a.seconds for a in switch), "slowest": slowest.seconds,
            "placed": sum(a.status in (200, 201) for a in final.values()),
            "replayed": sum(a.status == 200 for a in final.values()),
            "in_flight": sum(a.started < killed < a.ended for a in attempts),
            "refused": sum(a.status == 409 for a in final.values()),
            "before_kill": killed - min(a.started for a in attempts)}


def check_nothing_acknowledged_was_lost(new_primary: Cluster, attempts: list[Attempt],
                                        item_id: str) -> None:
    """On the promoted standby: exactly the orders the clients were answered, one per key,
    and the stock they took once."""
    assert new_primary.psql("SELECT pg_is_in_recovery()") == "f"
    answered: dict[str, set[str]] = {}
    for attempt in attempts:
        if attempt.status in (200, 201):
            answered.setdefault(attempt.key, set()).add(attempt.body["id"])
    assert all(len(ids) == 1 for ids in answered.values())  # a key answers one order
    orders = {key: ids.pop() for key, ids in answered.items()}

    def rows(sql: str) -> list[list[str]]:
        return [line.split("|") for line in new_primary.psql(sql, "minimart").splitlines()]

    live = {order_id for [order_id] in rows(f"SELECT id FROM orders WHERE {LIVE}")}
    assert live == set(orders.values())  # every answered order, and nothing else holds stock
    assert dict(rows("SELECT key, order_id FROM idempotency_keys")) == orders
    [[stock, held]] = rows(
        f"SELECT stock, (SELECT coalesce(sum(quantity), 0) FROM order_lines JOIN orders "
        f"ON orders.id = order_id WHERE item_id = '{item_id}' AND {LIVE}) "
        f"FROM items WHERE id = '{item_id}'")
    assert int(stock) + int(held) == STOCKED
    assert (int(stock), int(held)) == (0, STOCKED)  # all sold, each unit to one order

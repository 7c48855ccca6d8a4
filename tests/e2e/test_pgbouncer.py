"""The app behind PgBouncer (Debian's package, 1.18) in transaction pooling: a PgBouncer of
the test's own in front of a throwaway database.

With psycopg's server-side prepared statements (it prepares a statement it has run five
times) requests fail: every client names its statements _pg3_0, _pg3_1, ..., so a client
handed a server connection where another client prepared that name finds it taken, and one
handed a server connection where it never prepared finds it missing. With
`minimart.database.prepared_statements = false` an order storm of 8 threads over two apps
answers no 5xx, keeps stock exact, and PgBouncer's admin console shows the clients sharing
fewer server connections.

PgBouncer 1.18 refuses the `options` startup parameter that carries the server-side bounds
(statement_timeout, lock_timeout): its ini ignores it, and the bounds are set on the
database instead, as production.ini says. PgBouncer refuses to run as root: as root it runs
as the postgres user. Without it the test skips, or fails under CI=true.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, make_url
from webtest import TestApp

from minimart import make_app
from tests.conftest import throwaway_postgres_database
from tests.integration.conftest import free_port
from tests.integration.test_order_concurrency import Shop, settings_for
from tests.support.needs import require
from tests.support.postgres_cluster import cluster_directory

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

PGBOUNCER = shutil.which("pgbouncer") or (
    "/usr/sbin/pgbouncer" if os.access("/usr/sbin/pgbouncer", os.X_OK) else None)
# The storm: two app processes' worth (apps of their own, each its own pool) of 4 threads.
PROCESSES, THREADS, REQUESTS_PER_THREAD = 2, 8, 25
# Their server connections: a signed-in request holds one in its transaction while it
# reads the catalog on another, so with no more server connections than requests at once,
# all could hold one and wait for a second (until the app's answer bound: 503).
STORM_SERVER_CONNECTIONS = THREADS + 1
STOCKED = {"A": 20, "B": 12}
SERVER_BOUNDS = {"statement_timeout": "5s", "lock_timeout": "3s"}  # production.ini's


class PgBouncer:
    """One PgBouncer on 127.0.0.1:`port`: database `storm` pools STORM_SERVER_CONNECTIONS
    server connections, `single` one; both lead to the same database."""

    def __init__(self, root: Path, target: URL) -> None:
        assert PGBOUNCER is not None
        self.root, self.target, self.port = root, target, free_port()
        self.user = target.username or "postgres"
        server = (f"host={target.host or '127.0.0.1'} port={target.port or 5432} "
                  f"dbname={target.database}")
        (root / "userlist.txt").write_text(f'"{self.user}" "{target.password or ""}"\n')
        (root / "pgbouncer.ini").write_text(f"""[databases]
storm = {server} pool_size={STORM_SERVER_CONNECTIONS}
single = {server} pool_size=1

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {root / 'userlist.txt'}
pool_mode = transaction
ignore_startup_parameters = options
max_client_conn = 200
reserve_pool_size = 0
query_wait_timeout = 15
admin_users = {self.user}
stats_period = 1
logfile = {root / 'pgbouncer.log'}
""")
        as_root = os.geteuid() == 0
        self.process = subprocess.Popen(
            [PGBOUNCER, str(root / "pgbouncer.ini")], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, user="postgres" if as_root else None,
            group="postgres" if as_root else None, extra_groups=[] if as_root else None)
        deadline = time.monotonic() + 15
        while True:
            try:
                self.show("VERSION")
                return
            except psycopg.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"pgbouncer did not start:\n{self.log()}") from None
                time.sleep(0.1)

    def url(self, database: str) -> str:
        return self.target.set(drivername="postgresql+psycopg", host="127.0.0.1",
                               port=self.port, database=database,
                               ).render_as_string(hide_password=False)

    def show(self, what: str) -> list[dict[str, Any]]:
        """SHOW `what` on the admin console, as rows of column -> value."""
        with psycopg.connect(host="127.0.0.1", port=self.port, dbname="pgbouncer",
                             user=self.user, autocommit=True, connect_timeout=3) as admin:
            cursor = admin.execute(f"SHOW {what}")
            names = [column.name for column in cursor.description or []]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def pool(self, database: str) -> dict[str, Any]:
        return next(row for row in self.show("POOLS") if row["database"] == database)

    def log(self) -> str:
        path = self.root / "pgbouncer.log"
        return path.read_text()[-4000:] if path.exists() else ""

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def bouncer() -> Iterator[PgBouncer]:
    require(PGBOUNCER is not None, "PgBouncer (Debian's package pgbouncer)")
    with throwaway_postgres_database() as url, cluster_directory("minimart-pgb-") as root:
        target = make_url(url)
        direct = create_engine(target, isolation_level="AUTOCOMMIT")
        with direct.connect() as connection:  # what the `options` startup parameter set
            for name, value in SERVER_BOUNDS.items():
                connection.execute(text(f'ALTER DATABASE "{target.database}" '
                                        f"SET {name} = '{value}'"))
        direct.dispose()
        bouncer = PgBouncer(root, target)
        try:
            yield bouncer
        finally:
            bouncer.stop()


@contextmanager
def app_behind(bouncer: PgBouncer, database: str, prepared: bool) -> Iterator[Any]:
    app = make_app(settings_for(bouncer.url(database), **{
        "minimart.database.prepared_statements": "true" if prepared else "false"}),
        environ={})
    try:
        yield app
    finally:
        app.registry.container.close()


def test_prepared_statements_fail_behind_transaction_pooling(bouncer: PgBouncer):
    """Two processes' worth of clients on one server connection: each client names its
    prepared statements _pg3_0, _pg3_1, ..., so the second to prepare finds the name
    taken (and a client whose transaction lands on a server where it never prepared finds
    it missing)."""
    seen: Counter[str] = Counter()

    def record(context: Any) -> None:
        error = context.original_exception
        if isinstance(error, psycopg.Error):
            seen[f"{type(error).__name__}: {str(error).splitlines()[0]}"] += 1

    with app_behind(bouncer, "single", prepared=True) as first, \
            app_behind(bouncer, "single", prepared=True) as second:
        for app in (first, second):
            event.listen(app.registry.container.engine, "handle_error", record)
        Shop(first).item(stock=5, name="Prepared")
        statuses = Counter(
            TestApp(app).get("/api/v1/items?limit=5", expect_errors=True).status_int
            for _ in range(10) for app in (first, second))

    prepared_errors = {error for error in seen if 'prepared statement "_pg3_' in error}
    print(f"\nprepared statements on behind PgBouncer: answers {dict(statuses)}; "
          f"errors {dict(seen)}")
    assert prepared_errors, (statuses, seen)
    assert any(status >= 500 for status in statuses), statuses


def test_an_order_storm_behind_pgbouncer_without_prepared_statements(bouncer: PgBouncer):
    with app_behind(bouncer, "storm", prepared=False) as app, \
            app_behind(bouncer, "storm", prepared=False) as other:
        apps = [app, other]
        shop = Shop(app)
        with shop.engine.connect() as connection:
            assert connection.connection.dbapi_connection.prepare_threshold is None
            bounds = {name: connection.execute(text(f"SHOW {name}")).scalar_one()
                      for name in SERVER_BOUNDS}
        assert bounds == SERVER_BOUNDS  # set on the database: PgBouncer drops `options`
        item_ids = {name: shop.item(stock=stock, name=name) for name, stock in STOCKED.items()}
        customers = [shop.customer(f"pooled{n}@example.com")[1] for n in range(3)]
        xacts_before = _stats(bouncer, "storm")["total_xact_count"]

        peak = {"clients": 0, "servers": 0}
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.is_set():
                row = bouncer.pool("storm")
                peak["clients"] = max(peak["clients"], row["cl_active"] + row["cl_waiting"])
                peak["servers"] = max(peak["servers"], _servers(row))
                time.sleep(0.02)

        def shopper(thread: int) -> Counter[str]:
            rng = random.Random(thread)
            headers = customers[thread % len(customers)]
            placed: list[str] = []
            seen: Counter[str] = Counter()
            client = TestApp(apps[thread % PROCESSES])
            for n in range(REQUESTS_PER_THREAD):
                action = rng.choices(["list", "place", "cancel"], weights=[3, 5, 2])[0]
                if action == "list":
                    response = client.get("/api/v1/items?limit=20", headers=headers,
                                          expect_errors=True)
                elif action == "place" or not placed:
                    action = "place"
                    key = f"storm-{thread}-{n // 2 * 2}"  # every other order is a retry
                    chosen = random.Random(key)
                    lines = [{"item_id": item_id, "quantity": chosen.randint(1, 3)}
                             for item_id in chosen.sample(sorted(item_ids.values()),
                                                          chosen.randint(1, 2))]
                    response = client.post_json(
                        "/api/v1/orders", {"lines": lines},
                        headers={**headers, "Idempotency-Key": key}, expect_errors=True)
                    if response.status_int == 201:
                        placed.append(response.json["id"])
                else:
                    response = client.post(f"/api/v1/orders/{placed.pop()}/cancel",
                                           headers=headers, expect_errors=True)
                seen[f"{action} {response.status_int}"] += 1
            return seen

        watcher = threading.Thread(target=sample)
        watcher.start()
        try:
            with ThreadPoolExecutor(max_workers=THREADS) as pool:
                seen = sum(pool.map(shopper, range(THREADS)), Counter())
        finally:
            sampling.set()
            watcher.join()
        after = bouncer.pool("storm")
        stock = {name: (shop.stock(item_id), shop.held(item_id))
                 for name, item_id in item_ids.items()}
    transactions = _stats(bouncer, "storm")["total_xact_count"] - xacts_before

    print(f"\nbehind PgBouncer, prepared statements off: {dict(seen)}; stock, held {stock}; "
          f"peak {peak['clients']} client connections on {peak['servers']} server "
          f"connections; {transactions} transactions; pool afterwards {after}")
    assert sum(seen.values()) == THREADS * REQUESTS_PER_THREAD
    assert not [outcome for outcome in seen if outcome.endswith(("500", "502", "503"))], seen
    assert seen["place 201"] > 0 and seen["place 200"] > 0, seen  # retried keys answer 200
    assert seen["place 409"] > 0, seen  # it did sell out
    for name, (left, held) in stock.items():
        assert left >= 0 and left + held == STOCKED[name], (name, left, held, seen)
    # server connections were shared: more clients than servers, at most the pool's size
    assert peak["servers"] <= STORM_SERVER_CONNECTIONS
    assert peak["clients"] > peak["servers"], peak
    assert transactions >= THREADS * REQUESTS_PER_THREAD


def _servers(pool: dict[str, Any]) -> int:
    return sum(pool[column] for column in ("sv_active", "sv_idle", "sv_used", "sv_tested",
                                            "sv_login"))


def _stats(bouncer: PgBouncer, database: str) -> dict[str, Any]:
    time.sleep(1.1)  # totals are folded in every stats_period (1 s)
    return next(row for row in bouncer.show("STATS") if row["database"] == database)

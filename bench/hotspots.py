"""`make hotspots`: where one request's time goes, in process, without the network.

Builds the app as `make bench` does over its database (`minimart_bench`, left by the last
`make bench`; pass another URL with --database), sends each scenario's request N times
straight to the WSGI app, and prints per request: pool checkouts and database round trips
by kind (BEGIN, each statement's verb, COMMIT/ROLLBACK), Python function calls,
microseconds under the profiler, and the functions that cost most by own time (cProfile).

Usage: python bench/hotspots.py [--database URL] [--requests N] [--top N] [SCENARIO ...]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import secrets
import sys
import tempfile
import time
from collections import Counter
from typing import Any

from sqlalchemy import Engine, event, select, text
from sqlalchemy.exc import SQLAlchemyError
from webtest import TestApp

from minimart import make_app
from minimart.adapters.sqlalchemy.tables import items
from minimart.domain.accounts import Account
from minimart.domain.errors import NotFound
from minimart.domain.services.wiring import Services

DEFAULT_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/minimart_bench"
BENCH_EMAIL = "bench@example.com"


class RoundTrips:
    """Counts what the engine sends to the database, by kind. BEGIN, COMMIT and ROLLBACK of
    an autocommit connection (the catalog reads) never reach the wire and are not counted;
    nor is the ping of a connection that sat idle, which a warm benchmark never needs."""

    def __init__(self, engine: Engine) -> None:
        self.counts: Counter[str] = Counter()
        event.listen(engine, "before_cursor_execute", self._statement)
        for kind in ("begin", "commit", "rollback"):
            event.listen(engine, kind, self._transaction(kind.upper()))
        event.listen(engine.pool, "checkout", lambda *_: self.counts.update(["checkout"]))

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.counts[statement.split(None, 1)[0].upper()] += 1

    def _transaction(self, kind: str) -> Any:
        def count(connection: Any) -> None:
            if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
                self.counts[kind] += 1

        return count


def scenarios_of(app: Any) -> dict[str, dict[str, Any]]:
    """The bench's requests: a page, an item, and an order by the bench's customer."""
    container = app.registry.container
    with container.engine.connect() as connection:
        some = connection.execute(select(items.c.id).where(items.c.archived.is_(False))
                                  .limit(1).offset(500)).scalar_one()
        widget = connection.execute(
            select(items.c.id).where(items.c.name == "Bench widget")).scalar()
    scenarios: dict[str, dict[str, Any]] = {
        "healthz": {"method": "GET", "url": "/healthz"},
        "items": {"method": "GET", "url": "/api/v1/items?limit=20"},
        "item": {"method": "GET", "url": f"/api/v1/items/{some}"},
    }
    def bench_customer(services: Services) -> Account | None:
        try:
            return services.accounts.find_by_email(BENCH_EMAIL)
        except NotFound:
            return None

    customer = container.in_transaction(bench_customer)
    if widget and customer:
        token = app.registry.token_codec.issue(customer)
        scenarios["order"] = {
            "method": "POST", "url": "/api/v1/orders",
            "headers": {"Authorization": f"Bearer {token}"},
            "json": {"lines": [{"item_id": widget, "quantity": 1}],
                     "payment_method": "pm_card_visa"}}
    return scenarios


def call(client: TestApp, spec: dict[str, Any]) -> None:
    if spec["method"] == "GET":
        client.get(spec["url"], headers=spec.get("headers", {}))
    else:
        client.post_json(spec["url"], spec["json"], headers=spec.get("headers", {}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("scenarios", nargs="*")
    args = parser.parse_args()
    app = make_app({"minimart.environment": "test", "minimart.database_url": args.database,
                    "minimart.jwt_secret": secrets.token_urlsafe(48),
                    "minimart.payments": "memory",
                    "minimart.images.directory": tempfile.mkdtemp(prefix="minimart-")},
                   environ={})
    try:
        with app.registry.container.engine.connect() as connection:
            connection.execute(text("SELECT 1 FROM items LIMIT 1"))
    except SQLAlchemyError as error:
        print(f"no bench catalog at {args.database} ({type(error).__name__}): "
              "run `make bench` first, or pass --database")
        return 1
    trips = RoundTrips(app.registry.container.engine)
    client = TestApp(app, extra_environ={"REMOTE_ADDR": "127.0.0.1"})
    scenarios = scenarios_of(app)
    for name in args.scenarios or list(scenarios):
        spec = scenarios[name]
        for _ in range(50):
            call(client, spec)  # warm caches, prepared statements and the pool
        trips.counts.clear()
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        for _ in range(args.requests):
            call(client, spec)
        profiler.disable()
        elapsed = time.perf_counter() - started
        stats = pstats.Stats(profiler, stream=io.StringIO())
        per_request = {kind: round(n / args.requests, 2) for kind, n in trips.counts.items()}
        print(f"\n== {name}: {spec['method']} {spec['url'][:60]}")
        print(f"   {elapsed / args.requests * 1e6:.0f} us/request under the profiler, "
              f"{stats.total_calls / args.requests:.0f} function calls/request")  # type: ignore[attr-defined]
        print(f"   database per request: {per_request}")
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(args.top)
        print("\n".join(line for line in out.getvalue().splitlines()[6:] if line.strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

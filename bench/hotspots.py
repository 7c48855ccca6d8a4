"""`make hotspots`: where one request's time goes, in process, without the network.

Builds the app as `make bench` does over its database (`minimart_bench`, left by the last
`make bench`; pass another URL with --database), sends each scenario's request N times
straight to the WSGI app, and prints per request: database round trips by kind (pool
pings, BEGIN, statements, COMMIT/ROLLBACK), Python function calls, microseconds, and
the functions that cost most by own time (cProfile).

Usage: python bench/hotspots.py [--database URL] [--requests N] [--top N] [SCENARIO ...]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import secrets
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import transaction
from sqlalchemy import Engine, event, select, text
from webtest import TestApp

from minimart import make_app
from minimart.adapters.sqlalchemy.tables import items
from minimart.domain.errors import NotFound

DEFAULT_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/minimart_bench"
BENCH_EMAIL = "bench@example.com"


class RoundTrips:
    """Counts what the engine sends to the database, by kind."""

    def __init__(self, engine: Engine) -> None:
        self.counts: Counter[str] = Counter()
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "begin", lambda _c: self.counts.update(["BEGIN"]))
        event.listen(engine, "commit", lambda _c: self.counts.update(["COMMIT"]))
        event.listen(engine, "rollback", lambda _c: self.counts.update(["ROLLBACK"]))
        event.listen(engine.pool, "checkout", lambda *_: self.counts.update(["checkout"]))

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.counts[statement.split(None, 1)[0].upper()] += 1


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
    manager = transaction.TransactionManager(explicit=True)
    with manager:
        services = container.services(manager)
        try:
            customer = services.accounts.find_by_email(BENCH_EMAIL)
        except NotFound:
            customer = None
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
    workdir = Path("/tmp/minimart-profile")
    app = make_app({"minimart.environment": "test", "minimart.database_url": args.database,
                    "minimart.jwt_secret": secrets.token_urlsafe(48),
                    "minimart.payments": "memory",
                    "minimart.images.directory": str(workdir / "images")}, environ={})
    with app.registry.container.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
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

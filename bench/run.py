"""`make bench`: minimart under load on this machine, as ratios to /healthz in the same run.

Starts the app with production-like settings (waitress threads and log levels of
production.ini; payments simulated in memory) on PostgreSQL (SQLite where PostgreSQL is
absent, said in the output), loads a 100,000-item catalog, drives each endpoint with wrk
over loopback, and prints requests/s, p50 and p99 latency and peak RSS, plus a hand-written
baseline of the catalog page (raw psycopg, prepared statement, plain json).

Usage: python bench/run.py [--json FILE] [--duration SECONDS] [--rounds N] [--connections N]
                           [--items N] [--only WORD,WORD] [--no-prepared-statements]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, select, text

from minimart import make_app
from minimart.adapters.sqlalchemy.database import make_engine, upgrade_schema
from minimart.adapters.sqlalchemy.tables import items
from minimart.domain.actors import Actor, Role
from minimart.domain.catalog import NewItem
from minimart.domain.ids import new_id
from minimart.domain.paging import PageAfter
from minimart.entrypoints.web.cursors import encode_listing_cursor

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
PG_ADMIN = os.environ.get("MINIMART_BENCH_POSTGRES_URL",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/test")
THREADS = 8
WORDS = ["apple", "banana", "cherry", "date", "elder", "fig", "grape", "honey", "iris",
         "juniper", "kiwi", "lemon", "mango", "nutmeg", "olive", "pepper", "quince", "rye",
         "saffron", "thyme", "umami", "vanilla", "walnut", "yuzu", "zest"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def choose_database(workdir: Path) -> tuple[str, str]:
    try:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT",
                              connect_args={"connect_timeout": 3})
        with admin.connect() as connection:
            connection.execute(text("DROP DATABASE IF EXISTS minimart_bench WITH (FORCE)"))
            connection.execute(text("CREATE DATABASE minimart_bench"))
        admin.dispose()
        url = PG_ADMIN.rsplit("/", 1)[0] + "/minimart_bench"
        return url, "PostgreSQL"
    except Exception as error:  # any failure: fall back, and say so
        print(f"PostgreSQL not available ({str(error).splitlines()[0]}): using SQLite")
        return f"sqlite:///{workdir / 'bench.sqlite'}", "SQLite"


def load_catalog(url: str, count: int) -> None:
    engine = make_engine(url)
    upgrade_schema(engine)
    rng = random.Random(42)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as connection:
        for offset in range(0, count, 5000):
            batch = []
            for n in range(offset, min(offset + 5000, count)):
                name = f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} {n}"
                batch.append({
                    "id": new_id(), "sku": f"SKU-{n}", "name": name, "name_key": name.lower(),
                    "description": " ".join(rng.choice(WORDS) for _ in range(12)),
                    "price": rng.randint(50, 50_000), "stock": rng.randint(0, 500),
                    "available": True, "featured": n % 50 == 0, "archived": n % 97 == 0,
                    "version": 1, "created_at": start + timedelta(seconds=n),
                    "updated_at": start + timedelta(seconds=n)})
            connection.execute(insert(items), batch)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE"))
    engine.dispose()


def write_ini(workdir: Path, url: str, port: int, prepared_statements: bool = True) -> Path:
    ini = workdir / "bench.ini"
    prepared = "true" if prepared_statements else "false"
    ini.write_text(f"""[app:main]
use = egg:minimart
minimart.environment = test
minimart.database_url = {url}
minimart.jwt_secret = {secrets.token_urlsafe(48)}
minimart.payments = memory
minimart.images.directory = {workdir / 'images'}
minimart.database.prepared_statements = {prepared}

[server:main]
use = egg:minimart#main
listen = 127.0.0.1:{port}
threads = {THREADS}

[loggers]
keys = root

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARN
handlers = console

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(asctime)s %(levelname)-5.5s [%(name)s] %(message)s
""")
    return ini


def prepare_shop(ini: Path) -> dict[str, str]:
    """A customer with a token, an item to order, and a cursor deep in the catalog."""
    from pyramid.paster import get_appsettings

    app = make_app(get_appsettings(str(ini)), environ={})

    container = app.registry.container
    account = container.in_transaction(lambda services: services.accounts.create_account(
        "bench@example.com", "bench password 123", "Bench", Role.CUSTOMER, Actor.system()))
    item = container.in_transaction(lambda services: services.catalog.create_item(
        NewItem(name="Bench widget", price=100, stock=1_000_000_000), Actor.system()))
    with container.engine.connect() as connection:
        total = connection.execute(text("SELECT count(*) FROM items WHERE NOT archived")
                                   ).scalar_one()
        deep = connection.execute(
            select(items.c.name_key, items.c.id).where(items.c.archived.is_(False))
            .order_by(items.c.name_key, items.c.id).offset(total - 40).limit(1)).one()
        some = connection.execute(select(items.c.id).where(items.c.archived.is_(False))
                                  .offset(total // 2).limit(1)).scalar_one()
    container.engine.dispose()
    return {"token": app.registry.token_codec.issue(account), "order_item": item.id,
            "item": some,
            "cursor": encode_listing_cursor("items", {}, PageAfter(deep.name_key, deep.id))}


def wait_for(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer") from None
            time.sleep(0.2)


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return round(int(match.group(1)) / 1024, 1) if match else float("nan")


def run_wrk(url: str, duration: int, connections: int, script: Path | None = None,
            env: dict[str, str] | None = None) -> dict[str, float]:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout",
               "5s"]
    if script is not None:
        command += ["-s", str(script)]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True,
                            env={**os.environ, **(env or {})}).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)

    def percentile(label: str) -> float:
        value, unit = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)", output).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {"rps": round(rps, 1), "p50_ms": round(percentile("50"), 2),
            "p99_ms": round(percentile("99"), 2),
            "non_2xx": int(errors.group(1)) if errors else 0}


def median_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One scenario's figures over the rounds: the median of each, the peak of the RSS, and
    the non-2xx answers summed. Each round's ratio is to that round's own /healthz."""
    def median(key: str) -> float:
        return round(statistics.median(row[key] for row in rows), 3)

    return {"scenario": rows[0]["scenario"], "rps": median("rps"), "p50_ms": median("p50_ms"),
            "p99_ms": median("p99_ms"), "non_2xx": sum(row["non_2xx"] for row in rows),
            "peak_rss_mb": max(row["peak_rss_mb"] for row in rows),
            "ratio_to_healthz": median("ratio_to_healthz")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="bench-results.json", help="where to write figures")
    parser.add_argument("--duration", type=int, default=5, help="seconds per scenario")
    parser.add_argument("--rounds", type=int, default=3,
                        help="run every scenario this many times, interleaved, and report "
                             "the median: on a noisy machine one run can be off by half")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--only", default="",
                        help="comma-separated words; run only scenarios whose name has one "
                             "(healthz always runs: it is the ratio's base)")
    parser.add_argument("--no-prepared-statements", dest="prepared_statements",
                        action="store_false",
                        default=os.environ.get("MINIMART_DATABASE_PREPARED_STATEMENTS",
                                               "true").lower() not in ("false", "no", "0", "off"),
                        help="run the app with minimart.database.prepared_statements = false "
                             "(as behind PgBouncer in transaction pooling); also "
                             "MINIMART_DATABASE_PREPARED_STATEMENTS=false")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: `apt-get install wrk` (make bench does it)")
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="minimart-bench-"))
    url, backend = choose_database(workdir)
    print(f"database: {backend}; loading {args.items:,} items ...", flush=True)
    load_catalog(url, args.items)
    port, base_port = free_port(), free_port()
    ini = write_ini(workdir, url, port, args.prepared_statements)
    shop = prepare_shop(ini)
    # the app reads MINIMART_DATABASE_PREPARED_STATEMENTS over the ini: the same answer
    app = subprocess.Popen([str(BIN / "pserve"), str(ini)], stderr=subprocess.DEVNULL, env={
        **os.environ,
        "MINIMART_DATABASE_PREPARED_STATEMENTS": str(args.prepared_statements).lower()})
    baseline = subprocess.Popen([sys.executable, str(HERE / "baseline.py"), url,
                                 str(base_port), str(THREADS)])
    root, base = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{base_port}"
    try:
        wait_for(f"{root}/healthz")
        wait_for(f"{base}/items")
        scenarios = [
            ("GET /healthz", f"{root}/healthz", None, app),
            ("GET /api/v1/items (page 1)", f"{root}/api/v1/items?limit=20", None, app),
            ("GET /api/v1/items (deep cursor)",
             f"{root}/api/v1/items?limit=20&cursor={shop['cursor']}", None, app),
            ("GET /api/v1/items/{id}", f"{root}/api/v1/items/{shop['item']}", None, app),
            ("POST /api/v1/orders", f"{root}/api/v1/orders", HERE / "orders.lua", app),
            ("baseline catalog page (raw psycopg)", f"{base}/items", None, baseline),
        ]
        wanted = [word for word in args.only.split(",") if word]
        scenarios = [row for row in scenarios if row[0] == "GET /healthz" or not wanted
                     or any(word in row[0] for word in wanted)]
        env = {"BENCH_TOKEN": shop["token"], "BENCH_ITEM": shop["order_item"]}
        rounds: list[list[dict[str, Any]]] = []
        for turn in range(1, args.rounds + 1):
            measured = []
            for name, target, script, process in scenarios:
                urllib.request.urlopen(target if script is None else f"{root}/healthz").read()
                figures = run_wrk(target, args.duration, args.connections, script, env)
                figures["peak_rss_mb"] = peak_rss_mb(process.pid)
                measured.append({"scenario": name, **figures})
                print(f"  round {turn}: {name}: {figures['rps']} req/s", flush=True)
            ceiling = measured[0]["rps"]
            for row in measured:
                row["ratio_to_healthz"] = round(row["rps"] / ceiling, 3)
            rounds.append(measured)
        results = [median_row([measured[n] for measured in rounds])
                   for n in range(len(scenarios))]
    finally:
        for process in (app, baseline):
            process.terminate()
            process.wait(timeout=10)
    print(f"\nminimart on {backend}, {args.connections} connections, {args.duration}s each, "
          f"median of {args.rounds} round(s), {os.cpu_count()} cores, prepared statements "
          f"{'on' if args.prepared_statements else 'off'}\n")
    print(f"{'scenario':40} {'req/s':>9} {'x healthz':>9} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'non-2xx':>8} {'peak RSS MB':>12}")
    for row in results:
        print(f"{row['scenario']:40} {row['rps']:>9} {row['ratio_to_healthz']:>9} "
              f"{row['p50_ms']:>8} {row['p99_ms']:>8} {row['non_2xx']:>8} "
              f"{row['peak_rss_mb']:>12}")
    report = {"backend": backend, "connections": args.connections, "duration_s": args.duration,
              "rounds": args.rounds, "items": args.items, "cores": os.cpu_count(),
              "prepared_statements": args.prepared_statements,
              "at": datetime.now(UTC).isoformat(), "results": results, "per_round": rounds}
    Path(args.json).write_text(json.dumps(report, indent=2))
    print(f"\nfigures written to {args.json}")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

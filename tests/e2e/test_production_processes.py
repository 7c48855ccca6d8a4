"""Several `pserve production.ini` processes over one PostgreSQL, and the failures real
deployments see: an order storm spread across processes, the database going away and
coming back, and a process killed in the middle of placing an order."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from minimart.adapters.sqlalchemy.database import make_engine
from tests.conftest import _empty_all_tables
from tests.integration.conftest import free_port, localstripe_url  # noqa: F401
from tests.support.deploy import production_ini
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ADMIN_PASSWORD = "the owner's long password"


def call(method: str, url: str, body: Any = None, token: str | None = None,
         headers: dict[str, str] | None = None, timeout: float = 30) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, _decoded(response.read())
    except urllib.error.HTTPError as error:
        return error.code, _decoded(error.read())


def fetch(url: str, token: str | None = None, timeout: float = 30) -> tuple[int, Any, str]:
    """Status, headers and text of a GET, whatever the status (pages, not only JSON)."""
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


def assert_unavailable(answer: tuple[int, Any, str], page: bool) -> None:
    """The app's own 503, as JSON on /api and as a page elsewhere: not waitress's bare 500."""
    status, headers, body = answer
    assert status == 503, body
    assert headers["X-Request-ID"] and headers["X-Content-Type-Options"] == "nosniff"
    if page:
        assert headers.get_content_type() == "text/html" and "<h1>Unavailable</h1>" in body
    else:
        assert json.loads(body)["error"]["code"] == "unavailable"


def _decoded(body: bytes) -> Any:
    """JSON as the app answers it; a proxy's own error page as its text."""
    try:
        return json.loads(body or b"null")
    except ValueError:
        return body.decode(errors="replace")


# The storms have one shopper leave dozens of orders unpaid: the per-account limit is lifted,
# the storm is the point.
STORM = {"minimart.max_pending_orders_per_account": "1000"}


class Deployment:
    """The environment production.ini reads, pointed at test servers on loopback."""

    def __init__(self, database_url: str, stripe_url: str) -> None:
        self.database_url = database_url
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MINIMART_")}
        self.env.update({
            "DATABASE_URL": database_url.replace("postgresql+psycopg://", "postgres://"),
            "MINIMART_JWT_SECRET": secrets.token_urlsafe(48),
            "STRIPE_API_KEY": "sk_test_deployment", "STRIPE_API_BASE": stripe_url,
            "STRIPE_WEBHOOK_SECRET": "whsec_" + secrets.token_hex(20),
            "PYTHONWARNINGS": "ignore"})
        self.processes: list[subprocess.Popen[bytes]] = []
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 -- closed in stop(); shown on failure

    def logs(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-4000:]

    def cli(self, *args: str, env: dict[str, str] | None = None) -> str:
        done = subprocess.run([str(BIN / "minimart"), "-c", "production.ini", *args],
                              cwd=ROOT, env={**self.env, **(env or {})}, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def serve(self, env: dict[str, str] | None = None,
              settings: dict[str, str] | None = None) -> str:
        """Another process of production.ini, the same file (plus any `settings` added to the
        app's section) on a port of its own, given as pserve's ini variables."""
        port = free_port()
        directory = Path(tempfile.mkdtemp())
        ini = production_ini(directory, directory / "images", settings)
        process = subprocess.Popen(
            [str(BIN / "pserve"), str(ini), "http_host=127.0.0.1", f"http_port={port}"],
            cwd=ROOT, env={**self.env, **(env or {})}, stdout=subprocess.DEVNULL,
            stderr=self.log)
        self.processes.append(process)
        root = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while not self._up(root):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("pserve production.ini did not start:\n" + self.logs())
            time.sleep(0.2)
        return root

    @staticmethod
    def _up(root: str) -> bool:
        try:
            urllib.request.urlopen(f"{root}/healthz", timeout=2).read()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=15)
        self.log.close()

    def scalar(self, sql: str) -> Any:
        engine = make_engine(self.database_url)
        try:
            with engine.connect() as connection:
                return connection.execute(text(sql)).scalar()
        finally:
            engine.dispose()


@pytest.fixture
def deployment(postgres_url: str, localstripe_url: str) -> Iterator[Deployment]:  # noqa: F811
    engine = make_engine(postgres_url)
    _empty_all_tables(engine)
    engine.dispose()
    shop = Deployment(postgres_url, localstripe_url)
    shop.cli("db", "upgrade")
    shop.cli("create-account", "--email", "owner@example.com", "--name", "Owner", "--role",
             "admin", env={"MINIMART_PASSWORD": ADMIN_PASSWORD})
    try:
        yield shop
    finally:
        shop.stop()


def sign_in(root: str, email: str, password: str) -> str:
    status, body = call("POST", f"{root}/api/v1/auth/token",
                        {"email": email, "password": password})
    assert status == 200, body
    return body["access_token"]


def seed(root: str, stock: int) -> tuple[str, str]:
    """An item with `stock` units, and a shopper's token."""
    admin = sign_in(root, "owner@example.com", ADMIN_PASSWORD)
    status, item = call("POST", f"{root}/api/v1/items",
                        {"name": "Storm lantern", "price": 1500, "stock": stock}, admin)
    assert status == 201, item
    call("POST", f"{root}/api/v1/accounts",
         {"email": "shopper@example.com", "password": "shopper password", "name": "S"})
    return item["id"], sign_in(root, "shopper@example.com", "shopper password")


def test_an_order_storm_across_two_processes_keeps_stock_exact_and_keys_single_use(
        deployment):
    first, second = deployment.serve(settings=STORM), deployment.serve(settings=STORM)
    item_id, shopper = seed(first, stock=40)
    body = {"lines": [{"item_id": item_id, "quantity": 1}]}
    attempts = [(root, f"storm-{n}") for n in range(60) for root in (first, second)]

    def place(attempt: tuple[str, str]) -> tuple[str, int, Any]:
        root, key = attempt
        status, answer = call("POST", f"{root}/api/v1/orders", body, shopper,
                              {"Idempotency-Key": key})
        return key, status, answer

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(place, attempts))

    assert {status for _, status, _ in results} <= {200, 201, 409}
    orders_by_key: dict[str, set[str]] = {}
    for key, status, answer in results:
        if status in (200, 201):
            orders_by_key.setdefault(key, set()).add(answer["id"])
    assert all(len(ids) == 1 for ids in orders_by_key.values())  # each key made one order
    placed = len(orders_by_key)
    assert placed == 40
    assert deployment.scalar("SELECT count(*) FROM orders") == placed
    assert deployment.scalar(f"SELECT stock FROM items WHERE id = '{item_id}'") == 0


def test_the_database_going_away_answers_503_fast_and_service_comes_back_by_itself(
        deployment, postgres_url):
    url = make_url(postgres_url)
    proxy = TcpProxy(url.port or 5432).start()
    through_proxy = url.set(port=proxy.port).render_as_string(hide_password=False)
    root = deployment.serve(env={"DATABASE_URL": through_proxy})
    assert call("GET", f"{root}/api/v1/items")[0] == 200
    owner = sign_in(root, "owner@example.com", ADMIN_PASSWORD)

    proxy.stop()
    started = time.monotonic()
    status, body = call("GET", f"{root}/api/v1/items")
    assert (status, body["error"]["code"]) == (503, "unavailable")
    assert time.monotonic() - started < 6
    assert_unavailable(fetch(f"{root}/api/v1/accounts/me", owner), page=False)
    assert_unavailable(fetch(f"{root}/"), page=True)
    assert call("GET", f"{root}/readyz")[0] == 503
    assert call("GET", f"{root}/healthz")[0] == 200  # the process itself is alive

    proxy = TcpProxy(url.port or 5432, listen_port=proxy.port).start()
    try:
        deadline = time.monotonic() + 15
        while call("GET", f"{root}/api/v1/items")[0] != 200:
            assert time.monotonic() < deadline, "service did not recover"
            time.sleep(0.5)
        assert call("GET", f"{root}/readyz")[0] == 200
        assert call("GET", f"{root}/api/v1/accounts/me", token=owner)[0] == 200
        assert fetch(f"{root}/")[0] == 200
    finally:
        proxy.stop()


def serve_with_slow_stripe(deployment: Deployment, stripe_url: str,
                           delay_seconds: float) -> tuple[TcpProxy, str]:
    """Another process whose every call to Stripe crawls through a delaying proxy."""
    slow_stripe = TcpProxy(make_url(f"postgresql://x@{stripe_url[7:]}/x").port,
                           delay_seconds=delay_seconds).start()
    root = deployment.serve(env={"STRIPE_API_BASE": f"http://127.0.0.1:{slow_stripe.port}"})
    return slow_stripe, root


def wait_for_the_reservation(deployment: Deployment) -> None:
    """Until the order's reservation is committed: its request now waits on Stripe."""
    deadline = time.monotonic() + 10
    while deployment.scalar("SELECT count(*) FROM orders") == 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_a_process_killed_while_placing_an_order_loses_no_stock_after_expiry(
        deployment, localstripe_url):  # noqa: F811
    root = deployment.serve()
    item_id, shopper = seed(root, stock=5)
    slow_stripe, doomed = serve_with_slow_stripe(deployment, localstripe_url, 4)
    def order_that_never_gets_an_answer() -> None:
        with contextlib.suppress(OSError, http.client.HTTPException):
            call("POST", f"{doomed}/api/v1/orders",
                 {"lines": [{"item_id": item_id, "quantity": 2}]}, shopper)

    waiting = threading.Thread(target=order_that_never_gets_an_answer, daemon=True)
    waiting.start()
    wait_for_the_reservation(deployment)
    deployment.processes[-1].send_signal(signal.SIGKILL)  # while it waits on Stripe
    deployment.processes[-1].wait(timeout=10)
    slow_stripe.stop()
    waiting.join(timeout=10)

    assert deployment.scalar("SELECT status FROM orders") == "pending_payment"
    assert deployment.scalar(f"SELECT stock FROM items WHERE id = '{item_id}'") == 3
    engine = make_engine(deployment.database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE orders SET created_at = created_at - interval '1 day'"))
    engine.dispose()
    assert "expired 1" in deployment.cli("expire-orders")
    assert deployment.scalar(f"SELECT stock FROM items WHERE id = '{item_id}'") == 5
    assert Counter([deployment.scalar("SELECT status FROM orders")]) == {"cancelled": 1}


def refuses_connections(root: str) -> bool:
    """True once the port refuses; a connection reset (it sat in the listen backlog when
    the socket closed) or an answer (not yet stopping) means not yet."""
    try:
        urllib.request.urlopen(f"{root}/healthz", timeout=2).read()
        return False
    except ConnectionResetError:
        return False
    except urllib.error.URLError as error:
        return isinstance(error.reason, ConnectionRefusedError)


def test_sigterm_finishes_the_order_in_flight_then_stops_refusing_new_connections(
        deployment, localstripe_url):  # noqa: F811
    root = deployment.serve()
    item_id, shopper = seed(root, stock=5)
    slow_stripe, stopping = serve_with_slow_stripe(deployment, localstripe_url, 1.5)
    idle = http.client.HTTPConnection(stopping[len("http://"):], timeout=10)
    idle.request("GET", "/healthz")
    assert idle.getresponse().read()  # a keep-alive connection left open, doing nothing
    answers: list[tuple[int, Any]] = []
    in_flight = threading.Thread(target=lambda: answers.append(call(
        "POST", f"{stopping}/api/v1/orders", {"lines": [{"item_id": item_id, "quantity": 2}]},
        shopper)))
    in_flight.start()
    wait_for_the_reservation(deployment)
    process = deployment.processes[-1]
    process.send_signal(signal.SIGTERM)
    try:
        deadline = time.monotonic() + 3
        while not refuses_connections(stopping):
            assert time.monotonic() < deadline, "still accepting connections after SIGTERM"
            time.sleep(0.1)
        in_flight.join(timeout=30)
        assert process.wait(timeout=30) == 0, deployment.logs()
        assert idle.sock.recv(1) == b""  # the idle connection was closed, not left hanging
    finally:
        idle.close()
        slow_stripe.stop()

    [(status, order)] = answers
    assert status == 201, order
    assert order["status"] == "pending_payment" and order["payment"]["client_secret"]
    assert order["payment"]["payment_intent_id"]  # Stripe's answer was recorded, not lost
    assert deployment.scalar("SELECT payment_intent_id FROM orders") == \
        order["payment"]["payment_intent_id"]
    assert deployment.scalar(f"SELECT stock FROM items WHERE id = '{item_id}'") == 3
    assert "finishing the requests in flight" in deployment.logs()
    assert call("GET", f"{root}/healthz")[0] == 200  # the other process serves on

"""A real `pserve` process over real HTTP: migrate and seed with the `minimart` command, then
list items, register, sign in and read oneself through waitress."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
STARTUP_TIMEOUT = 20.0

INI = """\
[app:main]
use = egg:minimart

minimart.environment = development
minimart.database_url = sqlite:///{database}
minimart.currency = usd
minimart.jwt_expiration_seconds = 3600
minimart.order_ttl_minutes = 30
minimart.argon2.time_cost = 1
minimart.argon2.memory_cost = 64
minimart.argon2.parallelism = 1

[server:main]
use = egg:minimart#main
listen = 127.0.0.1:{port}
max_request_body_size = 10485760

[loggers]
keys = root

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = INFO
handlers = console

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(asctime)s %(levelname)-5.5s [%(name)s] %(message)s
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def child_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "MINIMART_JWT_SECRET", "MINIMART_PASSWORD"}}
    env["PYTHONWARNINGS"] = "ignore"  # the server's own deprecation noise is not under test
    return env


def request(base: str, method: str, path: str, body: Any = None,
            headers: dict[str, str] | None = None) -> tuple[int, Message, Any]:
    """One HTTP exchange; answers (status, headers (case-insensitive), JSON body or None)."""
    data = None if body is None else json.dumps(body).encode()
    all_headers = {"Accept": "application/json", **(headers or {})}
    if data is not None:
        all_headers["Content-Type"] = "application/json"
    req = urllib.request.Request(base + path, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            raw = response.read()
            return response.status, response.headers, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        with error:
            raw = error.read()
            return error.code, error.headers, json.loads(raw) if raw else None


def wait_until_healthy(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"pserve exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"pserve did not answer /healthz within {STARTUP_TIMEOUT}s:\n{log.read_text()}")


def minimart(ini: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "minimart"), "-c", str(ini), *argv], capture_output=True,
                          text=True, env=child_environment(), timeout=60, check=False)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, demo-loaded store served by pserve; yields its base URL."""
    tmp_path = tmp_path_factory.mktemp("e2e")
    port = free_port()
    ini = tmp_path / "e2e.ini"
    ini.write_text(INI.format(database=tmp_path / "minimart.sqlite", port=port))

    upgraded = minimart(ini, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    loaded = minimart(ini, "load-demo")
    assert loaded.returncode == 0, loaded.stderr
    assert "12 items added" in loaded.stdout

    log = tmp_path / "pserve.log"
    with log.open("wb") as output:
        process = subprocess.Popen([str(BIN / "pserve"), str(ini)], stdout=output,
                                   stderr=subprocess.STDOUT, env=child_environment())
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, process, log)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_a_shopper_browses_registers_signs_in_and_reads_their_account(server):
    status, headers, page = request(server, "GET", "/api/v1/items")
    assert status == 200
    assert headers["X-Request-ID"]
    assert len(page["data"]) == 12
    assert page["next_cursor"] is None
    assert "Sourdough loaf" in {item["name"] for item in page["data"]}

    status, _, featured = request(server, "GET", "/api/v1/items?featured=true&sort=-price")
    assert status == 200
    assert [item["price"] for item in featured["data"]] == [1199, 650, 299]

    status, _, account = request(server, "POST", "/api/v1/accounts",
                                 {"email": "Eve@Example.com", "password": "a very good one",
                                  "name": "Eve"})
    assert status == 201
    assert account["role"] == "customer"

    status, _, token = request(server, "POST", "/api/v1/auth/token",
                               {"email": "eve@example.com", "password": "a very good one"})
    assert status == 200
    assert token["token_type"] == "Bearer"

    status, _, me = request(server, "GET", "/api/v1/accounts/me",
                            headers={"Authorization": f"Bearer {token['access_token']}"})
    assert status == 200
    assert (me["id"], me["email"], me["role"]) == (account["id"], "eve@example.com",
                                                   "customer")


def test_errors_over_http_are_the_json_envelope(server):
    status, headers, body = request(server, "GET", "/api/v1/accounts/me",
                                    headers={"X-Request-ID": "e2e-1"})
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert headers["X-Request-ID"] == "e2e-1"
    assert body["error"]["code"] == "unauthenticated"

    status, headers, body = request(server, "GET", "/api/v1/no-such-thing",
                                    headers={"Accept": "text/html"})
    assert status == 404
    assert headers["Content-Type"].startswith("application/json")
    assert set(body["error"]) == {"code", "message", "details"}

    status, _, body = request(server, "POST", "/api/v1/auth/token",
                              {"email": "nobody@example.com", "password": "whatever123"})
    assert status == 401
    assert body["error"]["code"] == "invalid_credentials"


def test_readyz_answers_200_on_the_migrated_database(server):
    status, _, body = request(server, "GET", "/readyz")
    assert status == 200
    assert body["status"] == "ready"

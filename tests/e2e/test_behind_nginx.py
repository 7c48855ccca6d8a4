"""The README's deployment recipe for real: nginx (Debian's package) balancing two
`pserve production.ini` processes over one PostgreSQL. An order storm through nginx, with
one process stopped by SIGTERM halfway (a rolling restart), loses no request: every answer
is an order or an honest 409, stock is exact and each Idempotency-Key made one order."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_production_processes import (  # noqa: F401
    STORM,
    Deployment,
    call,
    deployment,
    seed,
)
from tests.integration.conftest import free_port, localstripe_url  # noqa: F401
from tests.support.needs import require

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def nginx_config(prefix: Path, port: int, upstreams: list[str]) -> str:
    servers = "\n".join(f"        server {root.removeprefix('http://')};" for root in upstreams)
    user = "user root;" if os.geteuid() == 0 else ""
    return f"""{user}
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    upstream minimart {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 6m;
        location / {{
            proxy_pass http://minimart;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header Host $host;
        }}
    }}
}}
"""


@pytest.fixture
def nginx_in_front(deployment: Deployment) -> Iterator[str]:  # noqa: F811
    """nginx on a free port in front of two production.ini processes; its address."""
    require(Path(NGINX).exists(), "nginx (apt-get install -y nginx-light)")
    upstreams = [deployment.serve(settings=STORM), deployment.serve(settings=STORM)]
    prefix = Path(tempfile.mkdtemp(prefix="minimart-nginx-"))
    port = free_port()
    (prefix / "nginx.conf").write_text(nginx_config(prefix, port, upstreams))
    process = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
                               stderr=subprocess.PIPE)
    root = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            urllib.request.urlopen(f"{root}/healthz", timeout=2).read()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not start: {process.stderr.read()!r}") from None
            time.sleep(0.1)
    try:
        yield root
    finally:
        print((prefix / "error.log").read_text()[-3000:])  # pytest shows it on a failure
        process.terminate()
        process.wait(timeout=10)
        process.stderr.close()
        shutil.rmtree(prefix, ignore_errors=True)


def test_an_order_storm_through_nginx_survives_a_rolling_restart(deployment, nginx_in_front):  # noqa: F811
    item_id, shopper = seed(nginx_in_front, stock=60)
    body = {"lines": [{"item_id": item_id, "quantity": 1}]}
    keys = [f"rolling-{n}" for n in range(100)]
    restarted = deployment.processes[0]

    def place(key: str) -> tuple[str, int, Any]:
        if key == "rolling-30":
            restarted.send_signal(signal.SIGTERM)  # one process leaves mid-storm
        status, answer = call("POST", f"{nginx_in_front}/api/v1/orders", body, shopper,
                              {"Idempotency-Key": key})
        return key, status, answer

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(place, keys))

    assert restarted.wait(timeout=30) == 0, deployment.logs()
    statuses = [status for _, status, _ in results]
    assert set(statuses) <= {200, 201, 409}, [r for r in results if r[1] not in (200, 201, 409)]
    placed = {key: answer["id"] for key, status, answer in results if status in (200, 201)}
    assert len(placed) == 60 and len(set(placed.values())) == 60  # a key, an order
    assert statuses.count(409) == 40
    assert deployment.scalar("SELECT count(*) FROM orders") == 60
    assert deployment.scalar(f"SELECT stock FROM items WHERE id = '{item_id}'") == 0
    assert call("GET", f"{nginx_in_front}/readyz")[0] == 200  # the other process serves on

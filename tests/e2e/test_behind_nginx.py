"""The shipped nginx site, deploy/nginx/minimart.conf (only its ports, server name,
certificate and cache path changed), in front of two web processes started with the
command line of deploy/systemd/minimart-web@.service, over one PostgreSQL, over TLS.

An order storm through nginx, with one process stopped by SIGTERM halfway (a rolling
restart), loses no request: every answer is an order or an honest 409, stock is exact and
each Idempotency-Key made one order. Plain HTTP is sent to HTTPS, the app sees HTTPS and
the client's host through the forwarded headers production.ini trusts, the body limit is
nginx's and waitress's alike, and pictures outlive the processes in nginx's cache."""

from __future__ import annotations

import http.client
import io
import json
import os
import shutil
import signal
import ssl
import subprocess
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from PIL import Image

from tests.e2e.test_production_processes import (  # noqa: F401
    ADMIN_PASSWORD,
    STORM,
    Deployment,
    call,
    deployment,
    seed,
    sign_in,
)
from tests.integration.conftest import free_port, localstripe_url  # noqa: F401
from tests.support.deploy import (
    SITE,
    UNITS,
    Unit,
    command_line,
    ini_setting,
    nginx_main_config,
    production_ini,
    render_site,
    self_signed_certificate,
    unit_environment,
    wait_for_health,
)
from tests.support.needs import require

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@dataclass
class Site:
    root: str  # https://127.0.0.1:PORT, as a browser reaches the shop
    plain: str  # http://127.0.0.1:PORT
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    log: Path = Path()

    def logs(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@pytest.fixture
def site(deployment: Deployment, tmp_path: Path,  # noqa: F811
         monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """Two `minimart-web@PORT` processes (production.ini, the environment file's variables)
    and nginx with the shipped site in front, its certificate trusted by this process."""
    require(Path(NGINX).exists(), "nginx (apt-get install -y nginx-light)")
    require(shutil.which("openssl") is not None, "openssl (apt-get install -y openssl)")
    web = Unit(UNITS / "minimart-web@.service")
    ini = production_ini(tmp_path, tmp_path / "images", STORM)
    (tmp_path / "images").mkdir()
    environment = unit_environment(web, deployment.env, tmp_path,
                                   {"STRIPE_API_BASE": deployment.env["STRIPE_API_BASE"]})
    ports = [free_port(), free_port()]
    http_port, https_port = free_port(), free_port()
    certificate, key = self_signed_certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate))  # urllib's default context reads it
    shop = Site(f"https://127.0.0.1:{https_port}", f"http://127.0.0.1:{http_port}",
                log=tmp_path / "web.log")
    conf = tmp_path / "minimart.conf"
    conf.write_text(render_site(http_port=http_port, https_port=https_port, upstreams=ports,
                                cache=tmp_path / "cache", certificate=certificate, key=key))
    (tmp_path / "nginx.conf").write_text(nginx_main_config(tmp_path, conf, os.geteuid() == 0))
    nginx = None
    try:
        with shop.log.open("wb") as log:
            for port in ports:
                shop.processes.append(subprocess.Popen(
                    command_line(web, ini, str(port)), cwd=tmp_path, env=environment,
                    stdout=log, stderr=log))
        for port, process in zip(ports, shop.processes, strict=True):
            wait_for_health(f"http://127.0.0.1:{port}", process, shop.log)
        nginx = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                                 stderr=subprocess.PIPE)
        wait_for_health(shop.root, nginx, tmp_path / "error.log", timeout=10)
        yield shop
    finally:
        if (tmp_path / "error.log").exists():
            print((tmp_path / "error.log").read_text()[-3000:])  # pytest shows it on failure
        if nginx is not None:
            nginx.terminate()
            nginx.wait(timeout=10)
            nginx.stderr.close()
        for process in shop.processes:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=45)


def test_an_order_storm_through_nginx_survives_a_rolling_restart(deployment, site):  # noqa: F811
    item_id, shopper = seed(site.root, stock=60)
    body = {"lines": [{"item_id": item_id, "quantity": 1}]}
    keys = [f"rolling-{n}" for n in range(100)]
    restarted = site.processes[0]

    def place(key: str) -> tuple[str, int, Any]:
        if key == "rolling-30":
            restarted.send_signal(signal.SIGTERM)  # one process leaves mid-storm
        status, answer = call("POST", f"{site.root}/api/v1/orders", body, shopper,
                              {"Idempotency-Key": key})
        return key, status, answer

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(place, keys))

    assert restarted.wait(timeout=30) == 0, site.logs()
    statuses = [status for _, status, _ in results]
    assert set(statuses) <= {200, 201, 409}, [r for r in results if r[1] not in (200, 201, 409)]
    placed = {key: answer["id"] for key, status, answer in results if status in (200, 201)}
    assert len(placed) == 60 and len(set(placed.values())) == 60  # a key, an order
    assert statuses.count(409) == 40
    assert deployment.scalar("SELECT count(*) FROM orders") == 60
    assert deployment.scalar(f"SELECT stock FROM items WHERE id = '{item_id}'") == 0
    assert call("GET", f"{site.root}/readyz")[0] == 200  # the other process serves on


def exchange(root: str, method: str, path: str, headers: dict[str, str] | None = None,
             body: bytes | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request as sent (no redirect followed, Content-Length as given)."""
    parts = urlsplit(root)
    connection = http.client.HTTPSConnection(
        parts.hostname, parts.port, timeout=30, context=ssl.create_default_context()) \
        if parts.scheme == "https" else http.client.HTTPConnection(parts.hostname, parts.port,
                                                                   timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def test_the_site_serves_https_tells_the_app_and_keeps_the_body_limit(site):
    status, headers, _ = exchange(site.plain, "GET", "/healthz")
    assert (status, headers["Location"]) == (301, "https://127.0.0.1/healthz")

    status, headers, _ = exchange(site.root, "GET", "/healthz")
    assert status == 200
    # the app saw X-Forwarded-Proto: https from 127.0.0.1, a proxy production.ini trusts
    assert headers["Strict-Transport-Security"].startswith("max-age=")

    # waitress refuses a body of max_request_body_size bytes or more; so does nginx
    limit = int(ini_setting("server:main", "max_request_body_size"))
    assert f"client_max_body_size {limit - 1};" in SITE.read_text()
    # the limit: nginx refuses it, from the headers alone (its own page, not the app's JSON)
    status, headers, body = exchange(site.root, "PUT", "/api/v1/items/x/image",
                                     {"Content-Length": str(limit)})
    assert (status, headers.get_content_type()) == (413, "text/html"), body
    # a byte less: nginx passes it on, and the app answers (JSON: its own 401)
    status, headers, body = exchange(site.root, "PUT", "/api/v1/items/x/image",
                                     {"Content-Type": "image/png"}, bytes(limit - 1))
    assert (status, headers.get_content_type()) == (401, "application/json"), body

def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def test_pictures_are_cached_by_nginx_and_outlive_the_processes(site):
    admin = sign_in(site.root, "owner@example.com", ADMIN_PASSWORD)
    status, item = call("POST", f"{site.root}/api/v1/items",
                        {"name": "Lantern", "price": 1500, "stock": 3}, admin)
    assert status == 201, item
    upload = urllib.request.Request(f"{site.root}/api/v1/items/{item['id']}/image", png(),
                                    method="PUT", headers={"Content-Type": "image/png",
                                                           "Authorization": f"Bearer {admin}"})
    with urllib.request.urlopen(upload, timeout=30) as answer:
        image_url = json.loads(answer.read())["image_url"]
    # the app builds its URLs from X-Forwarded-Proto and X-Forwarded-Host
    assert image_url.startswith("https://127.0.0.1/images/"), image_url
    path = urlsplit(image_url).path

    seen = [exchange(site.root, "GET", path) for _ in range(2)]
    assert [(status, headers["X-Cache-Status"]) for status, headers, _ in seen] == [
        (200, "MISS"), (200, "HIT")]
    assert "immutable" in seen[0][1]["Cache-Control"]

    for process in site.processes:
        process.send_signal(signal.SIGTERM)
    assert [process.wait(timeout=45) for process in site.processes] == [0, 0], site.logs()
    assert exchange(site.root, "GET", "/healthz")[0] == 502  # nothing upstream answers
    status, headers, body = exchange(site.root, "GET", path)
    assert (status, headers["X-Cache-Status"], body) == (200, "HIT", seen[0][2])

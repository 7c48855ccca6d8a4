"""`pserve development.ini http_port=...` and `pserve production.ini http_port=...
http_host=...`: the shipped ini files, unchanged, listen where the command line says (the
ini variables of their [DEFAULT] section), and where the file says without them."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def environment(ini: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MINIMART_", "STRIPE_", "DATABASE_"))}
    env["PYTHONWARNINGS"] = "ignore"
    if ini == "production.ini":  # well-formed secrets; nothing here reaches the database
        env.update({"DATABASE_URL": f"postgresql://nobody@127.0.0.1:{free_port()}/none",
                    "MINIMART_JWT_SECRET": secrets.token_urlsafe(48),
                    "STRIPE_API_KEY": "sk_test_" + secrets.token_hex(12),
                    "STRIPE_WEBHOOK_SECRET": "whsec_" + secrets.token_hex(20)})
    return env


def listening(ini: Path, env: dict[str, str], port: int, *variables: str) -> bool:
    """Whether `pserve INI VARIABLES...` answers /healthz on 127.0.0.1:port."""
    log = ini.with_suffix(".log")
    with log.open("wb") as output:
        process = subprocess.Popen([str(BIN / "pserve"), str(ini), *variables],
                                   cwd=ini.parent, env=env, stdout=output,
                                   stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert process.poll() is None, f"pserve exited:\n{log.read_text()}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz",
                                            timeout=1) as response:
                    return response.status == 200
            except OSError:
                time.sleep(0.1)
        return False
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.parametrize("name", ["development.ini", "production.ini"])
def test_pserve_listens_on_the_port_and_address_given_on_the_command_line(name, tmp_path):
    ini = tmp_path / name  # a copy: development.ini's %(here)s/var is then the test's
    shutil.copy(ROOT / name, ini)
    port = free_port()

    assert listening(ini, environment(name), port, f"http_port={port}",
                     "http_host=127.0.0.1")


def test_without_variables_pserve_listens_where_the_file_says(tmp_path):
    port = free_port()
    text = (ROOT / "development.ini").read_text()
    assert "\nhttp_port = 6543\n" in text  # the documented default, changed here only
    ini = tmp_path / "development.ini"
    ini.write_text(text.replace("\nhttp_port = 6543\n", f"\nhttp_port = {port}\n"))

    assert listening(ini, environment(ini.name), port)

"""The systemd units in deploy/systemd as shipped: `systemd-analyze verify` and its offline
security score on each, their timers' calendars, their agreement with production.ini, and
each ExecStart= run for real from this checkout's venv in the environment systemd gives it
(the environment file's variables, a bare PATH), against a fresh PostgreSQL database: the
migration, then a web instance serving /healthz on its instance port and exiting 0 on
SIGTERM, then every timer's job.

Not run here: systemd itself (this container has no systemd as PID 1), so the sandbox
settings are scored by `systemd-analyze security`, not exercised."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import pytest

from tests.conftest import throwaway_postgres_database
from tests.integration.conftest import free_port
from tests.support.deploy import (
    DEPLOY,
    ENV_EXAMPLE,
    INSTALLED_BIN,
    ROOT,
    UNITS,
    VENV_BIN,
    Unit,
    command_line,
    env_file_keys,
    ini_setting,
    production_ini,
    unit_environment,
    units,
    upstream_ports,
    wait_for_health,
)
from tests.support.needs import require

pytestmark = pytest.mark.e2e

WEB = "minimart-web@.service"
MIGRATE = "minimart-migrate.service"
# Every timer, the seconds between its runs, and what its service's command says on success.
TIMERS = {
    "minimart-expire-orders.timer": (60, "expired 0 unpaid orders"),
    "minimart-reconcile-payments.timer": (300, "checked 0 pending orders"),
    "minimart-sweep-pictures.timer": (86400, "deleted 0 unused pictures"),
}
# The secrets production.ini refuses to start without (src/minimart/settings.py).
REQUIRED_SECRETS = {"DATABASE_URL", "MINIMART_JWT_SECRET", "STRIPE_API_KEY",
                    "STRIPE_WEBHOOK_SECRET"}
SANDBOX = ("ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices", "PrivateMounts",
           "RemoveIPC", "NoNewPrivileges", "CapabilityBoundingSet", "ProtectKernelTunables",
           "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups", "ProtectClock",
           "ProtectHostname", "ProtectProc", "RestrictAddressFamilies", "RestrictNamespaces",
           "RestrictRealtime", "RestrictSUIDSGID", "LockPersonality", "SystemCallArchitectures",
           "SystemCallFilter", "SystemCallErrorNumber", "UMask")
# `systemd-analyze security` exposure, 0 (locked down) to 100 (root, no sandbox); the units
# score 15 ("1.5 OK"); above 20 a sandbox setting went missing.
MAX_EXPOSURE = 20


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    require(found is not None, "systemd-analyze (apt-get install -y systemd)")
    return str(found)


@pytest.fixture(scope="module")
def unit_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The units with their programs at this venv's, so verify finds them executable."""
    directory = tmp_path_factory.mktemp("units")
    for path in UNITS.iterdir():
        (directory / path.name).write_text(
            path.read_text().replace(INSTALLED_BIN, f"{VENV_BIN}/"))
    return directory


def analyze(unit_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    # A trailing ':' keeps the system's own units (network-online.target, timers.target)
    return subprocess.run([systemd_analyze(), *argv], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "SYSTEMD_UNIT_PATH": f"{unit_path}:",
                                           "TZ": "UTC", "SYSTEMD_PAGER": "", "LANG": "C.UTF-8"})


def loaded_name(path_name: str) -> str:
    """A template is verified as an instance: the first port nginx's upstream names."""
    return path_name.replace("@.", f"@{upstream_ports()[0]}.")


@pytest.mark.parametrize("name", sorted(path.name for path in UNITS.iterdir()))
def test_systemd_analyze_verify_finds_nothing_to_say(unit_path, name):
    """Unknown keys, unparsable values, missing programs or units: verify prints them
    (exiting 0 for some), so its silence is the test."""
    verified = analyze(unit_path, "verify", "--man=no", loaded_name(name))
    assert (verified.returncode, verified.stderr + verified.stdout) == (0, "")
    if name.endswith(".service"):
        scored = analyze(unit_path, "security", "--offline=yes", "--no-pager",
                         f"--threshold={MAX_EXPOSURE}", loaded_name(name))
        assert scored.returncode == 0, scored.stdout[-3000:] + scored.stderr


@pytest.mark.parametrize("timer", sorted(TIMERS))
def test_each_timer_runs_its_job_on_a_valid_calendar(unit_path, timer):
    unit = Unit(UNITS / timer)
    calendar = analyze(unit_path, "calendar", "--iterations=3",
                       unit.one("Timer", "OnCalendar"))
    assert calendar.returncode == 0, calendar.stderr
    elapses = [datetime.fromisoformat(stamp) for stamp in re.findall(
        r"(?:Next elapse|Iter\. #\d): \w+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", calendar.stdout)]
    assert len(elapses) == 3, calendar.stdout
    seconds = TIMERS[timer][0]
    gaps = [(later - earlier).total_seconds() for earlier, later in pairwise(elapses)]
    assert gaps == [seconds, seconds], calendar.stdout
    assert unit.all("Install", "WantedBy") == ["timers.target"]
    assert unit.all("Timer", "Unit") == []  # the service of the same name
    service = Unit(UNITS / timer.replace(".timer", ".service"))
    assert service.one("Service", "Type") == "oneshot"


def test_every_timer_is_known_to_these_tests():
    assert {path.name for path in UNITS.glob("*.timer")} == set(TIMERS)


def test_the_units_share_user_secrets_and_sandbox_and_agree_with_production_ini():
    services = units(".service")
    web = next(unit for unit in services if unit.name == WEB)
    sandbox = [(key, value) for key, value in web.sections["Service"] if key in SANDBOX]
    assert {key for key, _ in sandbox} == set(SANDBOX)
    images = ini_setting("app:main", "minimart.images.directory")
    for unit in services:
        assert unit.one("Service", "User") == unit.one("Service", "Group") == "minimart"
        assert unit.all("Service", "EnvironmentFile") == ["/etc/minimart/minimart.env"]
        assert [(key, value) for key, value in unit.sections["Service"]
                if key in SANDBOX] == sandbox, unit.name
        writes = unit.all("Service", "ReadWritePaths")
        # the pictures directory, for the processes that store or delete pictures only
        assert writes == ([images] if unit.name in {WEB, "minimart-sweep-pictures.service"}
                          else []), unit.name

    assert web.one("Service", "ExecStart").endswith(" http_host=127.0.0.1 http_port=%i")
    assert ini_setting("server:main", "trusted_proxy") == "127.0.0.1"  # nginx, on this host
    assert web.one("Service", "KillSignal") == "SIGTERM"
    assert web.one("Service", "Restart") == "on-failure"
    graceful = float(ini_setting("server:main", "shutdown_timeout"))
    assert int(web.one("Service", "TimeoutStopSec")) > graceful
    # the migration runs (and must succeed) before any instance starts
    assert MIGRATE in web.one("Unit", "Requires").split()
    assert MIGRATE in web.one("Unit", "After").split()
    migrate = Unit(UNITS / MIGRATE)
    assert migrate.one("Service", "Type") == "oneshot"
    assert migrate.one("Service", "ExecStart").endswith(" db upgrade")


def test_the_environment_file_sets_every_secret_and_only_variables_the_app_reads():
    read = _variables_settings_reads()
    optional = re.findall(r"^#([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.MULTILINE)
    assert set(env_file_keys()) == REQUIRED_SECRETS
    assert REQUIRED_SECRETS | set(optional) <= read


def _variables_settings_reads() -> set[str]:
    source = (ROOT / "src/minimart/settings.py").read_text()
    return set(re.findall(r"""(?:environ\.get\(|secret\()["']([A-Z][A-Z0-9_]*)["']""", source))


def test_the_install_steps_enable_the_instances_nginx_balances():
    guide = (DEPLOY / "README.md").read_text()
    steps = guide[guide.index("## Install"):guide.index("## Running it")]
    enabled = {int(port) for port in re.findall(r"minimart-web@(\d+)", steps)}
    assert enabled == set(upstream_ports())


@dataclass
class Host:
    """A server's /etc/minimart, /var/lib/minimart/images and a fresh database, for the
    units' commands."""
    ini: Path
    images: Path
    secrets: dict[str, str]
    home: Path
    workdir: Path

    def run(self, name: str, instance: str | None = None) -> subprocess.CompletedProcess[str]:
        unit = Unit(UNITS / name)
        return subprocess.run(
            command_line(unit, self.ini, instance), cwd=self.workdir, capture_output=True,
            text=True, timeout=120, env=self.environment(unit))

    def environment(self, unit: Unit) -> dict[str, str]:
        # a closed port: no test reaches the real Stripe, whatever a job asks it
        return unit_environment(unit, self.secrets, self.home,
                                {"STRIPE_API_BASE": "http://127.0.0.1:9"})


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    """Empty database; minimart-migrate.service's command run first, as the web unit's
    Requires= and After= run it before every instance."""
    base = tmp_path_factory.mktemp("host")
    for name in ("etc", "images", "home", "workdir"):
        (base / name).mkdir()
    with throwaway_postgres_database(revision="base") as url:
        machine = Host(
            ini=production_ini(base / "etc", base / "images"), images=base / "images",
            secrets={"DATABASE_URL": url.replace("postgresql+psycopg://", "postgres://"),
                     "MINIMART_JWT_SECRET": secrets.token_urlsafe(48),
                     "STRIPE_API_KEY": "sk_test_deploy_units",
                     "STRIPE_WEBHOOK_SECRET": "whsec_" + secrets.token_hex(20)},
            home=base / "home", workdir=base / "workdir")
        migrated = machine.run(MIGRATE)
        assert migrated.returncode == 0, migrated.stderr
        assert migrated.stdout.strip() == "database schema is current"
        yield machine
        # nothing is written relative to the working directory (systemd's is /)
        assert list(machine.workdir.iterdir()) == []


@pytest.mark.postgres
def test_a_web_instance_serves_on_its_port_and_stops_on_sigterm_with_exit_0(host):
    unit = Unit(UNITS / WEB)
    port = free_port()
    log = host.home / f"web-{port}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(command_line(unit, host.ini, str(port)), cwd=host.workdir,
                                   env=host.environment(unit), stdout=output,
                                   stderr=subprocess.STDOUT)
    try:
        wait_for_health(f"http://127.0.0.1:{port}", process, log)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as ready:
            assert ready.status == 200  # the migrated schema is current
        process.send_signal(signal.SIGTERM)  # KillSignal=
        assert process.wait(timeout=int(unit.one("Service", "TimeoutStopSec"))) == 0, \
            log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


@pytest.mark.postgres
@pytest.mark.parametrize("timer", sorted(TIMERS))
def test_each_timer_job_exits_0(host, timer):
    done = host.run(timer.replace(".timer", ".service"))
    assert (done.returncode, done.stderr) == (0, "")  # nothing for the journal to keep
    assert done.stdout.strip().startswith(TIMERS[timer][1]), done.stdout

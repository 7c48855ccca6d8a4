"""The shipped deployment files (deploy/) read and run as the tests run them: systemd units
parsed, their ExecStart= run from this checkout's venv against a test's ini, in the
environment systemd would give them, and the nginx site rendered for a test's ports.

Only what differs between a server and a test is changed: the install paths (/opt/minimart/
venv/bin, /etc/minimart/...), the ports, the pictures directory and the certificate; each
change must match the shipped file exactly as expected, so a file that drifts fails loudly
instead of being tested half-changed.
"""

from __future__ import annotations

import configparser
import re
import shlex
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"
SITE = DEPLOY / "nginx" / "minimart.conf"
ENV_EXAMPLE = DEPLOY / "minimart.env.example"
VENV_BIN = Path(sys.executable).parent

INSTALLED_BIN = "/opt/minimart/venv/bin/"
INSTALLED_INI = "/etc/minimart/production.ini"
INSTALLED_ENV = "/etc/minimart/minimart.env"
# What systemd's manager hands every system service before its own settings.
SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"


class Unit:
    """A unit file's settings: section -> [(key, value)], repeated keys kept in order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name
        self.sections: dict[str, list[tuple[str, str]]] = {}
        section: list[tuple[str, str]] | None = None
        for number, line in enumerate(path.read_text().splitlines(), 1):
            stripped = line.strip()
            if not stripped or stripped[0] in "#;":
                continue
            if stripped.startswith("[") and stripped.endswith("]"):
                section = self.sections.setdefault(stripped[1:-1], [])
                continue
            key, equals, value = stripped.partition("=")
            if section is None or not equals or line.endswith("\\"):
                raise ValueError(f"{path.name}:{number}: not a plain `Key=value` line: {line!r}")
            section.append((key.strip(), value.strip()))

    def all(self, section: str, key: str) -> list[str]:
        return [value for name, value in self.sections.get(section, []) if name == key]

    def one(self, section: str, key: str) -> str:
        values = self.all(section, key)
        if len(values) != 1:
            raise AssertionError(f"{self.name}: [{section}] {key}= {len(values)} times, not once")
        return values[0]


def units(suffix: str = "") -> list[Unit]:
    return [Unit(path) for path in sorted(UNITS.iterdir()) if path.name.endswith(suffix)]


def command_line(unit: Unit, ini: Path, instance: str | None = None) -> list[str]:
    """The unit's ExecStart= as argv: `%i` the instance, the venv's programs for the
    installed ones, `ini` for /etc/minimart/production.ini."""
    line = unit.one("Service", "ExecStart")
    if line[0] in "-@:+!":
        raise AssertionError(f"{unit.name}: ExecStart= prefix {line[0]!r} is not run by tests")
    specifiers = set(re.findall(r"%.", line)) - {"%i", "%%"}
    if specifiers or ("%i" in line) != (instance is not None):
        raise AssertionError(f"{unit.name}: ExecStart= specifiers {specifiers or '%i'} "
                             f"with instance {instance!r}")
    argv = shlex.split(line.replace("%i", instance or "").replace("%%", "%"))
    if not argv[0].startswith(INSTALLED_BIN) or argv.count(INSTALLED_INI) != 1:
        raise AssertionError(f"{unit.name}: ExecStart= runs neither {INSTALLED_BIN}... nor "
                             f"reads {INSTALLED_INI}: {line}")
    program = str(VENV_BIN / argv[0].removeprefix(INSTALLED_BIN))
    return [program, *(str(ini) if arg == INSTALLED_INI else arg for arg in argv[1:])]


def env_file_keys() -> list[str]:
    """The variables deploy/minimart.env.example sets (comments are optional ones)."""
    keys = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, equals, value = line.partition("=")
            if not equals or not re.fullmatch(r"[A-Z][A-Z0-9_]*", key) or \
                    re.search(r"[\s'\"\\$]", value):
                raise AssertionError(f"minimart.env.example: not a plain KEY=value: {line!r}")
            keys.append(key)
    return keys


def unit_environment(unit: Unit, values: Mapping[str, str], home: Path,
                     extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """What systemd gives the unit's process: a bare PATH and HOME, the environment file
    (the example's variables, each with the test's value from `values`) and Environment=.
    `extra` is the test's own (a Stripe fake's address)."""
    if unit.all("Service", "EnvironmentFile") != [INSTALLED_ENV]:
        raise AssertionError(f"{unit.name}: EnvironmentFile= is not {INSTALLED_ENV}")
    environment = {"PATH": SYSTEMD_PATH, "HOME": str(home), "LANG": "C.UTF-8"}
    environment.update({key: values[key] for key in env_file_keys()})
    for assignments in unit.all("Service", "Environment"):
        for assignment in shlex.split(assignments):
            key, _, value = assignment.partition("=")
            environment[key] = value
    return {**environment, **(extra or {})}


def ini_setting(section: str, key: str, path: Path = ROOT / "production.ini") -> str:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path)
    return parser[section][key]


def production_ini(directory: Path, images: Path,
                   settings: Mapping[str, str] | None = None) -> Path:
    """production.ini as a test runs it: pictures in `images`, any `settings` set in its
    app section. It listens where pserve's `http_host` and `http_port` variables say, as
    the web unit passes them (`pserve production.ini http_host=127.0.0.1 http_port=8001`)."""
    text = (ROOT / "production.ini").read_text()
    changes = {"minimart.images.directory": str(images), **(settings or {})}
    for key, value in changes.items():
        line = re.compile(rf"^{re.escape(key)} *=.*$", re.MULTILINE)
        if line.search(text):
            text = line.sub(lambda _, key=key, value=value: f"{key} = {value}", text, count=1)
        else:
            text = text.replace("[app:main]\n", f"[app:main]\n{key} = {value}\n", 1)
    assert re.search(r"^get port *= *http_port$", text, re.MULTILINE), \
        "production.ini's [server:main] must take its port from pserve's http_port"
    path = directory / "production.ini"
    path.write_text(text)
    return path


def wait_for_health(root: str, process: subprocess.Popen[bytes], log: Path,
                    timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{root}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{process.args} did not answer {root}/healthz "
                                 f"(exit {process.poll()}):\n{log.read_text()[-4000:]}")
        time.sleep(0.1)


def _one(pattern: str, replacement: str, text: str, count: int = 1) -> str:
    """`pattern` replaced where it matches, which must be exactly `count` lines."""
    new, found = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    if found != count:
        raise AssertionError(f"deploy/nginx/minimart.conf: {pattern!r} matched {found} "
                             f"times, not {count}: the test's rendering is out of date")
    return new


def upstream_ports(text: str | None = None) -> list[int]:
    """The ports of the site's `upstream minimart` servers."""
    block = re.search(r"^upstream minimart \{\n(.*?)^\}", text or SITE.read_text(),
                      re.MULTILINE | re.DOTALL)
    if block is None:
        raise AssertionError("deploy/nginx/minimart.conf has no `upstream minimart` block")
    return [int(port) for port in re.findall(r"^ *server 127\.0\.0\.1:(\d+);$",
                                             block.group(1), re.MULTILINE)]


def render_site(*, http_port: int, https_port: int, upstreams: list[int], cache: Path,
                certificate: Path, key: Path) -> str:
    """deploy/nginx/minimart.conf for a test: listening on loopback ports (IPv4 only), the
    test's processes upstream, 127.0.0.1 as the server name, its certificate and cache."""
    text = SITE.read_text()
    servers = "".join(f"    server 127.0.0.1:{port};\n" for port in upstreams)
    text = _one(r"^(upstream minimart \{\n)(?: *server 127\.0\.0\.1:\d+;\n)+",
                rf"\g<1>{servers}", text)
    text = _one(r"^( *)listen 80;$", rf"\g<1>listen 127.0.0.1:{http_port};", text)
    text = _one(r"^( *)listen 443 ssl http2;$",
                rf"\g<1>listen 127.0.0.1:{https_port} ssl http2;", text)
    text = _one(r"^ *listen \[::\]:(?:80|443 ssl http2);\n", "", text, count=2)
    text = _one(r"^( *ssl_certificate) \S+;$", rf"\g<1> {certificate};", text)
    text = _one(r"^( *ssl_certificate_key) \S+;$", rf"\g<1> {key};", text)
    text = _one(r"^( *server_name) shop\.example\.com;$", r"\g<1> 127.0.0.1;", text, count=2)
    text = _one(r"^proxy_cache_path /var/cache/nginx/minimart ", f"proxy_cache_path {cache} ",
                text)
    settings = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    if any(left in settings for left in ("example.com", "/etc/", "/var/")):
        raise AssertionError("deploy/nginx/minimart.conf names a path or host the test "
                             "does not replace:\n" + settings)
    return text


def nginx_main_config(prefix: Path, site: Path, as_root: bool) -> str:
    """nginx.conf around the site, as Debian's includes sites-enabled/* in its http block."""
    return f"""{"user root;" if as_root else ""}
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    include {site};
}}
"""


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for IP 127.0.0.1 and its key (openssl); trust it with SSL_CERT_FILE."""
    certificate, key = directory / "certificate.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(certificate)],
                   check=True, capture_output=True, timeout=30)
    return certificate, key

"""The dependency locks (requirements/run.txt, requirements/test.txt) against setup.cfg and
the environment the tests run in: what the tests run with is what the lock says, every
dependency is locked with hashes, and setup.cfg caps the libraries whose internals or
major versions we depend on. `make upgrade-deps` refreshes the locks."""

from __future__ import annotations

import configparser
import re
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
RUN_LOCK = ROOT / "requirements" / "run.txt"
TEST_LOCK = ROOT / "requirements" / "test.txt"

# The server runner reads waitress's internals (entrypoints/server.py); the others break
# the code or its schemas between majors (SQLAlchemy between minors: 2.0 -> 2.1 -> 2.2).
CAPPED = ("waitress", "marshmallow", "stripe", "SQLAlchemy", "pyramid", "apispec", "psycopg")

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def parse_lock(path: Path) -> dict[str, tuple[Version, list[str]]]:
    """{normalised name: (version, its hashes)} for each `name==version` entry."""
    entries: dict[str, tuple[Version, list[str]]] = {}
    current: list[str] | None = None
    for line in path.read_text().splitlines():
        pin = _PIN.match(line)
        if pin:
            current = []
            entries[canonicalize_name(pin.group(1))] = (Version(pin.group(2)), current)
        elif current is not None and line.strip().startswith("--hash="):
            current.append(line.strip().removeprefix("--hash=").rstrip(" \\"))
        elif not line.startswith(" "):
            current = None
    return entries


def setup_cfg_requirements(extra: str | None = None) -> list[Requirement]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    text = (config["options.extras_require"][extra] if extra
            else config["options"]["install_requires"])
    return [Requirement(line.strip()) for line in text.splitlines() if line.strip()]


def installed() -> dict[str, Version]:
    found: dict[str, Version] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(canonicalize_name(name), Version(dist.version))
    return found


@pytest.fixture(scope="module")
def run_lock():
    return parse_lock(RUN_LOCK)


@pytest.fixture(scope="module")
def test_lock():
    return parse_lock(TEST_LOCK)


def test_the_environment_runs_the_locked_versions(run_lock, test_lock):
    here = installed()
    missing = sorted(name for name in run_lock if name not in here)
    assert not missing, f"run.txt locks these but they are not installed: {missing}"
    wrong = {name: f"{here[name]} installed, {version} locked"
             for lock in (run_lock, test_lock)
             for name, (version, _) in lock.items()
             if name in here and here[name] != version}
    assert not wrong, f"not at the locked version (make setup installs the lock): {wrong}"


def test_every_install_requires_is_locked_with_hashes(run_lock):
    for requirement in setup_cfg_requirements():
        name = canonicalize_name(requirement.name)
        assert name in run_lock, f"{requirement.name} is not in requirements/run.txt"
        version, hashes = run_lock[name]
        assert hashes and all(h.startswith("sha256:") for h in hashes), \
            f"{requirement.name} has no --hash= in requirements/run.txt"
        assert version in requirement.specifier, \
            f"run.txt locks {requirement.name} {version}, outside setup.cfg's {requirement}"
        for extra in requirement.extras:  # psycopg[binary] -> psycopg-binary
            assert canonicalize_name(f"{requirement.name}-{extra}") in run_lock, \
                f"{requirement} : its extra is not locked"


def test_the_test_extra_is_locked_with_hashes(test_lock):
    for requirement in setup_cfg_requirements("test"):
        name = canonicalize_name(requirement.name)
        assert name in test_lock, f"{requirement.name} is not in requirements/test.txt"
        version, hashes = test_lock[name]
        assert hashes, f"{requirement.name} has no --hash= in requirements/test.txt"
        assert version in requirement.specifier, \
            f"test.txt locks {requirement.name} {version}, outside setup.cfg's {requirement}"


def test_every_lock_entry_has_hashes_and_the_locks_agree(run_lock, test_lock):
    for path, lock in ((RUN_LOCK, run_lock), (TEST_LOCK, test_lock)):
        assert lock, f"{path} locks nothing"
        unhashed = sorted(name for name, (_, hashes) in lock.items() if not hashes)
        assert not unhashed, f"{path.name}: entries without --hash=: {unhashed}"
    differ = {name: f"run {version}, test {test_lock[name][0] if name in test_lock else None}"
              for name, (version, _) in run_lock.items()
              if name not in test_lock or test_lock[name][0] != version}
    assert not differ, f"run.txt and test.txt must lock the same versions: {differ}"


def test_setup_cfg_caps_the_libraries_we_depend_on_closely():
    requirements = {canonicalize_name(r.name): r for r in setup_cfg_requirements()}
    for library in CAPPED:
        requirement = requirements[canonicalize_name(library)]
        caps = [spec for spec in requirement.specifier if spec.operator in ("<", "<=", "~=")]
        assert caps, f"setup.cfg gives {library} no upper bound: {requirement}"


def test_pkg_resources_stays_available(run_lock):
    """Pyramid 2.1 imports pkg_resources, which setuptools 81 removes."""
    version, _ = run_lock["setuptools"]
    assert version < Version("81")

"""Ini files for the CLI tests: one [app:main] section of settings, migrated when asked."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from minimart.entrypoints.cli import main


def ini_for(path: Path, settings: Mapping[str, Any]) -> str:
    path.write_text("\n".join(["[app:main]", "use = egg:minimart",
                               *(f"{key} = {value}" for key, value in settings.items())]) + "\n")
    return str(path)


def migrated_ini(path: Path, settings: Mapping[str, Any]) -> str:
    """The ini, its database's schema made by `minimart db upgrade` (which must succeed)."""
    ini = ini_for(path, settings)
    assert main(["-c", ini, "db", "upgrade"]) == 0
    return ini

"""`minimart db ...`: Alembic on the ini, needing only the database URL (no app is built,
so no payment or token secret is asked for). Each command returns its one-line result."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from alembic import command as alembic
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory

# Where the migrations are when the ini has no [alembic] section (inis made before it had
# one): a location Alembic resolves, not an import of ours.
MIGRATIONS = "minimart.adapters.sqlalchemy:migrations"


def schema_config(path: str) -> AlembicConfig:
    """Alembic's configuration from the ini, as `alembic -c INI` reads it."""
    config = AlembicConfig(path, stdout=sys.stdout)
    if not config.file_config.has_option("alembic", "script_location"):
        config.set_main_option("script_location", MIGRATIONS)
    return config


def db_current(config: AlembicConfig, args: argparse.Namespace) -> str:
    alembic.current(config, verbose=args.verbose)
    return ""


def db_history(config: AlembicConfig, args: argparse.Namespace) -> str:
    alembic.history(config, rev_range=args.rev_range, verbose=args.verbose,
                    indicate_current=args.indicate_current)
    return ""


def db_upgrade(config: AlembicConfig, args: argparse.Namespace) -> str:
    alembic.upgrade(config, args.revision)
    if args.revision == "head":
        return "database schema is current"
    return f"database schema upgraded {_target(args.revision)}"


def db_downgrade(config: AlembicConfig, args: argparse.Namespace) -> str:
    alembic.downgrade(config, args.revision)
    return f"database schema downgraded {_target(args.revision)}"


def _target(revision: str) -> str:
    steps = revision.lstrip("+-")
    if steps.isdigit() and steps != revision:  # -1, +2: relative to where the database was
        return f"by {steps} revision{'s' if steps != '1' else ''}"
    return f"to {revision}"


def db_stamp(config: AlembicConfig, args: argparse.Namespace) -> str:
    alembic.stamp(config, args.revision, purge=args.purge)
    return f"database stamped {args.revision}; no migration ran"


def db_revision(config: AlembicConfig, args: argparse.Namespace) -> str:
    """Write a new migration (numbered after the newest), from the difference between
    the tables the code declares and the database's schema with --autogenerate."""
    written = alembic.revision(
        config, message=args.message, autogenerate=args.autogenerate,
        rev_id=_next_revision_id(config),
        process_revision_directives=_nothing_to_write if args.autogenerate else None)
    if not written:  # Alembic itself says which file it wrote
        return "no difference between the tables and the migrations: no revision written"
    return ""


def _next_revision_id(config: AlembicConfig) -> str | None:
    """0013 after 0012, while every revision is numbered so; else Alembic's own id."""
    ids = [script.revision for script in ScriptDirectory.from_config(config).walk_revisions()]
    if ids and all(len(id_) == 4 and id_.isdigit() for id_ in ids):
        return f"{max(map(int, ids)) + 1:04d}"
    return None


def _nothing_to_write(_context: Any, _revision: Any, directives: list[Any]) -> None:
    if directives and directives[0].upgrade_ops.is_empty():
        directives[:] = []


def db_sql(config: AlembicConfig, args: argparse.Namespace) -> str:
    """Offline: the SQL of the migrations up to REV, for a DBA to run; nothing connects."""
    alembic.upgrade(config, args.revision, sql=True)
    return ""


def db_check(config: AlembicConfig, args: argparse.Namespace) -> str:
    alembic.check(config)
    return ""

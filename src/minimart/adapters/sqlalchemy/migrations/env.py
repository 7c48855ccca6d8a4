"""Alembic environment: the migrations of the schema declared in tables.py.

Run three ways, all with the same rules:
- `minimart db ...` (entrypoints/cli.py) and plain `alembic -c development.ini ...`: the
  ini's [alembic] section names this directory, and the database comes, first found, from
  DATABASE_URL in the environment (as the app reads it: the environment wins), the ini's
  [app:main] `minimart.database_url` (PasteDeploy's reading: `%(here)s` is the ini's
  folder), or `sqlalchemy.url` in the [alembic] section. No other setting is read: no
  secret is needed to migrate.
- minimart's own `upgrade_schema(engine)` (tests, the bench): the engine it hands over in
  `config.attributes["engine"]`.

Offline (`--sql`, `minimart db sql`) renders PostgreSQL's SQL without connecting.
"""

import configparser
import os
import re
from contextlib import contextmanager

import plaster
from alembic import context
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from minimart.adapters.sqlalchemy.database import (
    make_engine,
    normalize_database_url,
    without_statement_bounds,
)
from minimart.adapters.sqlalchemy.tables import metadata
from minimart.settings import SettingsError, database_url_from

config = context.config


def app_settings():
    """The ini's [app:main] settings, read as pserve reads them ({} without an ini or one)."""
    if not config.config_file_name:
        return {}
    try:
        return dict(plaster.get_settings(config.config_file_name, "app:main"))
    except configparser.NoSectionError:
        return {}


def database_url():
    raw = app_settings()
    if not raw.get("minimart.database_url") and config.get_main_option("sqlalchemy.url"):
        raw["minimart.database_url"] = config.get_main_option("sqlalchemy.url")
    try:
        return normalize_database_url(database_url_from(raw, os.environ))
    except SettingsError as error:
        if config.cmd_opts is None:
            raise  # `minimart db`: settings_invalid
        raise CommandError(str(error)) from None  # plain `alembic`: FAILED, no traceback


def numbered_revisions(_context, _revision, directives):
    """New revisions continue the numbering (0012 -> 0013) unless --rev-id names one."""
    if not directives or getattr(config.cmd_opts, "rev_id", None):
        return
    script = directives[0]
    existing = [revision.revision for revision in
                ScriptDirectory.from_config(config).walk_revisions()]
    if existing and all(re.fullmatch(r"\d{4}", revision) for revision in existing):
        script.rev_id = f"{max(map(int, existing)) + 1:04d}"
    if getattr(config.cmd_opts, "autogenerate", False) and script.upgrade_ops.is_empty():
        directives[:] = []  # plain `alembic revision --autogenerate` with nothing to write
        config.print_stdout("no difference between tables.py and the migrations: "
                            "no revision written")


def with_sqlite_folder(url):
    """A SQLite file's folder made if missing (a fresh checkout has no var/ yet)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        os.makedirs(os.path.dirname(os.path.abspath(parsed.database)), exist_ok=True)
    return url


def run_offline():
    url = database_url()
    if not url.startswith("postgresql"):
        raise CommandError(
            "offline SQL is rendered for PostgreSQL (SQLite's migrations rebuild tables, "
            "which needs the database): set DATABASE_URL to a postgresql:// URL; "
            "nothing connects to it")
    context.configure(url=url, target_metadata=metadata, literal_binds=True,
                      dialect_opts={"paramstyle": "named"},
                      process_revision_directives=numbered_revisions)
    with context.begin_transaction():
        context.run_migrations()


@contextmanager
def sqlite_foreign_keys_off(connection):
    """SQLite alters a table in batch: copy it, drop it, rename the copy. Dropping a table
    that other rows refer to fails while foreign keys are enforced (categories under their
    items), so they are off while migrating (set outside a transaction: SQLite ignores the
    pragma inside one), every reference is checked after, and they are on again."""
    if connection.dialect.name != "sqlite":
        yield
        return
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.commit()
    try:
        yield
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise CommandError(f"the migration left {len(broken)} rows referring to rows "
                               f"that do not exist, e.g. {tuple(broken[0])}")
    finally:
        connection.rollback()
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()


def run_online():
    engine = config.attributes.get("engine")
    # one connection for one command; make_engine's bounds on connecting and locks apply
    own_engine = None if engine is not None else make_engine(
        with_sqlite_folder(database_url()), poolclass=NullPool)
    try:
        with (engine or own_engine).connect() as connection, \
                sqlite_foreign_keys_off(connection), connection.begin(), \
                without_statement_bounds(connection):
            context.configure(connection=connection, target_metadata=metadata,
                              render_as_batch=connection.dialect.name == "sqlite",
                              process_revision_directives=numbered_revisions)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        if own_engine is not None:
            own_engine.dispose()


if config.cmd_opts is not None and config.config_file_name:
    plaster.setup_logging(config.config_file_name)  # plain `alembic`: the ini's logging
if context.is_offline_mode():
    run_offline()
else:
    run_online()

"""Engines, sessions joined to the transaction manager, and the schema's migration state."""

from __future__ import annotations

from importlib import resources
from typing import Any

import transaction
import zope.sqlalchemy
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def normalize_database_url(url: str) -> str:
    """Accept the `postgres://` and `postgresql://` forms hosting platforms set; use psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def make_engine(url: str, **options: Any) -> Engine:
    url = normalize_database_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               **options)
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    options.setdefault("pool_pre_ping", True)
    options.setdefault("pool_size", 10)
    options.setdefault("max_overflow", 10)
    options.setdefault("pool_timeout", 5)
    options.setdefault("connect_args", {"connect_timeout": 5})
    return create_engine(url, **options)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # SQLite's own lower() folds ASCII only; searches must fold every letter, as PostgreSQL does.
    dbapi_connection.create_function("lower", 1, _lower, deterministic=True)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _lower(value: str | None) -> str | None:
    return None if value is None else value.lower()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def tm_session(factory: sessionmaker[Session],
               manager: transaction.TransactionManager) -> Session:
    """A session whose commit and rollback belong to the transaction manager (pyramid_tm)."""
    session = factory()
    zope.sqlalchemy.register(session, transaction_manager=manager)
    return session


def _alembic_config(engine: Engine) -> Config:
    config = Config()
    location = resources.files("minimart.adapters.sqlalchemy") / "migrations"
    config.set_main_option("script_location", str(location))
    config.attributes["engine"] = engine
    return config


def upgrade_schema(engine: Engine, revision: str = "head") -> None:
    command.upgrade(_alembic_config(engine), revision)


def schema_is_current(engine: Engine) -> bool:
    """True when the database answers and is at the newest migration."""
    heads = set(ScriptDirectory.from_config(_alembic_config(engine)).get_heads())
    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    return current == heads

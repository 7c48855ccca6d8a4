"""Engines, sessions joined to the transaction manager, and the schema's migration state."""

from __future__ import annotations

import time
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
from sqlalchemy.exc import DisconnectionError
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
    options.setdefault("pool_size", 10)
    options.setdefault("max_overflow", 10)
    options.setdefault("pool_timeout", 5)
    options.setdefault("connect_args", {"connect_timeout": 5})
    engine = create_engine(url, **options)
    if not options.get("pool_pre_ping"):
        ping_connections_that_sat_idle(engine)
    return engine


PING_AFTER_IDLE_SECONDS = 1.0


def ping_connections_that_sat_idle(engine: Engine,
                                   after_seconds: float = PING_AFTER_IDLE_SECONDS) -> None:
    """Pool pre-ping, but only for a connection that sat unused in the pool for a while.

    SQLAlchemy's `pool_pre_ping` costs two round trips (BEGIN, SELECT 1) on every checkout,
    which under load is most of the work of a catalog read. A connection handed back a
    moment ago is as alive as the one that just worked; one that idled (the database may
    have restarted meanwhile) is pinged, and a dead one is replaced before anyone uses it.
    A disconnect noticed mid-request invalidates the whole pool, as SQLAlchemy always does,
    so the connections of a restarted server are all replaced at their next checkout.
    """

    @event.listens_for(engine.pool, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < after_seconds:
            return
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
            dbapi_connection.rollback()
        except engine.dialect.loaded_dbapi.Error as error:
            raise DisconnectionError("the connection did not answer a ping") from error


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

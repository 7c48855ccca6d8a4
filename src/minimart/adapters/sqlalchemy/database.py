"""Engines, sessions joined to the transaction manager, and the schema's migration state."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any, TypeVar

import psycopg
import transaction
import zope.sqlalchemy
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from psycopg.abc import PQGen
from sqlalchemy import Connection, Engine, create_engine, event
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


@dataclass(frozen=True, slots=True)
class DatabaseLimits:
    """How long anything may wait on PostgreSQL, in seconds.

    A database that stops answering (stopped, partitioned, frozen) must cost a request a
    few seconds and a 503, never a thread for as long as the outage lasts: threads that
    wait forever end up all waiting, and then even `/healthz` has none to answer with.
    The server enforces `statement_timeout` and `lock_timeout` (it cancels, the connection
    lives on); `answer_timeout`, a little longer, is the client's own bound for when the
    server cannot enforce anything because it does not run at all. The pool holds at most
    `pool_size + max_overflow` connections and a checkout waits `pool_timeout` at most.

    `prepared_statements` False stops psycopg from preparing on the server the statements
    it runs often (`prepare_threshold=None`), for a pool in transaction mode (PgBouncer
    before 1.21) where the next transaction may run on another server connection.
    """

    pool_size: int = 8
    max_overflow: int = 8
    pool_timeout: float = 3.0
    connect_timeout: int = 3
    statement_timeout: float = 5.0
    lock_timeout: float = 3.0
    answer_timeout: float = 6.0
    keepalives_idle: int = 5
    tcp_user_timeout: float = 6.0
    prepared_statements: bool = True

    def connect_params(self) -> dict[str, Any]:
        """libpq's parameters: the connect bound, TCP keepalives (probe an idle connection
        after `keepalives_idle` s, then every second) and TCP_USER_TIMEOUT (drop a
        connection whose data goes unacknowledged that long: a network partition)."""
        return {"connect_timeout": self.connect_timeout, "keepalives": 1,
                "keepalives_idle": self.keepalives_idle, "keepalives_interval": 1,
                "keepalives_count": 3, "tcp_user_timeout": _ms(self.tcp_user_timeout)}

    def server_options(self) -> str:
        """The server-side bounds, set at connection start-up: no extra round trip."""
        return (f"-c statement_timeout={_ms(self.statement_timeout)} "
                f"-c lock_timeout={_ms(self.lock_timeout)}")


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class DatabaseDidNotAnswer(psycopg.OperationalError):
    """The server did not answer within the client's bound; the connection was closed."""


RV = TypeVar("RV")


class BoundedConnection(psycopg.Connection[Any]):
    """A psycopg connection that waits at most `answer_timeout` seconds for any answer.

    Every round trip (statements, fetches, COMMIT, ROLLBACK) goes through `wait()`. When
    the bound passes, the connection is in an unknown state mid-protocol, so it is closed:
    SQLAlchemy sees a disconnect and replaces it, and the whole pool with it. TCP
    keepalives and TCP_USER_TIMEOUT cannot catch a server that is alive to the kernel but
    does not run (SIGSTOP, a hung host): the kernel acknowledges everything.
    """

    answer_timeout: float | None = None

    def wait(self, gen: PQGen[RV], interval: float = 0.1, timeout: float | None = None) -> RV:
        bound = self.answer_timeout if timeout is None else timeout
        try:
            return super().wait(gen, interval=interval, timeout=bound)
        except psycopg.errors._WaitTimeout:  # psycopg >= 3.3: raised only once `bound` passed
            self.pgconn.finish()
            raise DatabaseDidNotAnswer(
                f"the database did not answer within {bound:g} s; connection closed") from None

    @contextmanager
    def answering_within(self, seconds: float | None) -> Iterator[None]:
        """Another bound for what runs inside (None: wait as long as it takes)."""
        previous, self.answer_timeout = self.answer_timeout, seconds
        try:
            yield
        finally:
            self.answer_timeout = previous


def make_engine(url: str, limits: DatabaseLimits | None = None, **options: Any) -> Engine:
    """An engine whose every wait on PostgreSQL is bounded by `limits` (defaults if None)."""
    url = normalize_database_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               **options)
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    limits = limits or DatabaseLimits()
    if not limits.prepared_statements:  # psycopg's default prepares after 5 runs
        options["connect_args"] = {**options.get("connect_args", {}), "prepare_threshold": None}
    if "poolclass" not in options:
        options.setdefault("pool_size", limits.pool_size)
        options.setdefault("max_overflow", limits.max_overflow)
        options.setdefault("pool_timeout", limits.pool_timeout)
    engine = create_engine(url, **options)
    _connect_with_bounds(engine, limits)
    if not options.get("pool_pre_ping"):
        ping_connections_that_sat_idle(engine, answer_within=limits.connect_timeout)
    return engine


def _connect_with_bounds(engine: Engine, limits: DatabaseLimits) -> None:
    @event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, cargs: list[Any],
                 cparams: dict[str, Any]) -> BoundedConnection:
        options = " ".join(filter(None, (cparams.pop("options", None),
                                         limits.server_options())))
        connection = BoundedConnection.connect(
            *cargs, **{**limits.connect_params(), **cparams, "options": options})
        connection.answer_timeout = limits.answer_timeout
        return connection


@contextmanager
def without_statement_bounds(connection: Connection) -> Iterator[None]:
    """Lift `statement_timeout` and the client's answer bound for what runs inside, in the
    connection's transaction (migrations may rewrite a large table). `lock_timeout` stays:
    DDL queued behind a long transaction would queue every request behind itself."""
    if connection.dialect.name != "postgresql":
        yield
        return
    connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
    dbapi_connection = connection.connection.dbapi_connection
    if not isinstance(dbapi_connection, BoundedConnection):
        yield
        return
    with dbapi_connection.answering_within(None):
        yield


PING_AFTER_IDLE_SECONDS = 1.0


def ping_connections_that_sat_idle(engine: Engine,
                                   after_seconds: float = PING_AFTER_IDLE_SECONDS,
                                   answer_within: float | None = None) -> None:
    """Pool pre-ping, but only for a connection that sat unused in the pool for a while.

    SQLAlchemy's `pool_pre_ping` costs two round trips (BEGIN, SELECT 1) on every checkout,
    which under load is most of the work of a catalog read. A connection handed back a
    moment ago is as alive as the one that just worked; one that idled (the database may
    have restarted meanwhile) is pinged, and a dead one is replaced before anyone uses it.
    A disconnect noticed mid-request invalidates the whole pool, as SQLAlchemy always does,
    so the connections of a restarted server are all replaced at their next checkout.
    A ping waits `answer_within` seconds at most (a live server answers in milliseconds).
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
            with _answering_within(dbapi_connection, answer_within):
                cursor = dbapi_connection.cursor()
                cursor.execute("SELECT 1")
                cursor.close()
                dbapi_connection.rollback()
        except engine.dialect.loaded_dbapi.Error as error:
            raise DisconnectionError("the connection did not answer a ping") from error


@contextmanager
def _answering_within(dbapi_connection: Any, seconds: float | None) -> Iterator[None]:
    if seconds is None or not isinstance(dbapi_connection, BoundedConnection):
        yield
        return
    with dbapi_connection.answering_within(seconds):
        yield


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

"""Every wait on PostgreSQL is bounded (DatabaseLimits): the server cancels slow statements
and lock waits, the client gives up on a server that does not answer at all, connecting
and pool checkouts give up too, and the engine recovers by itself when the server is back.

A server that does not answer is a TcpProxy that holds everything back (see
tests/e2e/test_database_hangs.py for the real thing, a frozen cluster).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from minimart.adapters.sqlalchemy.database import (
    BoundedConnection,
    DatabaseLimits,
    make_engine,
    without_statement_bounds,
)
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.postgres

SHORT = DatabaseLimits(pool_size=2, max_overflow=0, pool_timeout=0.5, connect_timeout=2,
                       statement_timeout=0.5, lock_timeout=0.3, answer_timeout=1.5,
                       keepalives_idle=1, tcp_user_timeout=2)


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url, SHORT)
    yield engine
    engine.dispose()


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[TcpProxy]:
    proxy = TcpProxy(make_url(postgres_url).port or 5432).start()
    yield proxy
    proxy.stop()


def elapsed_since(started: float) -> float:
    return time.monotonic() - started


def within(seconds: float, work: Callable[[], Any]) -> Any:
    """work() in a thread, waited for `seconds` at most: unbounded, the test fails rather
    than hangs (the thread is freed when the proxy stops)."""
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(work).result(timeout=seconds)
    finally:
        pool.shutdown(wait=False)


def test_every_connection_starts_with_the_server_side_bounds_and_tcp_settings(engine):
    with engine.connect() as connection:
        shown = {name: connection.exec_driver_sql(f"SHOW {name}").scalar()
                 for name in ("statement_timeout", "lock_timeout")}
        params = connection.connection.dbapi_connection.info.get_parameters()
    assert shown == {"statement_timeout": "500ms", "lock_timeout": "300ms"}
    assert (params["connect_timeout"], params["keepalives_idle"],
            params["tcp_user_timeout"]) == ("2", "1", "2000")


def test_options_in_the_url_are_kept_beside_the_bounds(postgres_url):
    url = make_url(postgres_url).update_query_dict({"options": "-c work_mem=8MB"})
    engine = make_engine(url.render_as_string(hide_password=False), SHORT)
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SHOW work_mem").scalar() == "8MB"
            assert connection.exec_driver_sql("SHOW statement_timeout").scalar() == "500ms"
    finally:
        engine.dispose()


def test_the_server_cancels_a_slow_statement_and_the_connection_lives_on(engine):
    with engine.connect() as connection:
        with pytest.raises(OperationalError, match="statement timeout"):
            connection.exec_driver_sql("SELECT pg_sleep(3)")
        connection.rollback()
        assert not connection.invalidated
        assert connection.exec_driver_sql("SELECT 1").scalar() == 1


def test_a_lock_wait_gives_up_after_the_lock_timeout(engine):
    with engine.begin() as holder:
        holder.exec_driver_sql("SELECT pg_advisory_xact_lock(4242)")
        with engine.connect() as waiter:
            started = time.monotonic()
            with pytest.raises(OperationalError, match="lock timeout"):
                waiter.exec_driver_sql("SELECT pg_advisory_xact_lock(4242)")
            assert elapsed_since(started) < 2


def test_a_checkout_from_an_exhausted_pool_gives_up_after_the_pool_timeout(engine):
    with engine.connect(), engine.connect():
        started = time.monotonic()
        with pytest.raises(PoolTimeout):
            engine.connect()
        assert elapsed_since(started) < 3


def test_a_server_that_stops_answering_costs_a_statement_its_answer_bound_then_recovery(
        postgres_url, proxy):
    through = make_url(postgres_url).set(port=proxy.port).render_as_string(hide_password=False)
    engine = make_engine(through, SHORT)
    connection = engine.connect()
    try:
        assert connection.exec_driver_sql("SELECT 1").scalar() == 1
        proxy.hang()
        started = time.monotonic()
        with pytest.raises(OperationalError, match=r"did not answer within 1\.5 s"):
            within(10, lambda: connection.exec_driver_sql("SELECT 1"))
        assert 1.4 < elapsed_since(started) < 5
        assert connection.invalidated  # a disconnect: it (and the pool) is replaced

        started = time.monotonic()
        with pytest.raises(OperationalError, match="timeout"):
            within(10, engine.connect)  # a new connection: the connect bound
        assert elapsed_since(started) < 6
    finally:
        proxy.resume()  # whatever still waits gets its answer, and nothing hangs the test
        connection.close()
    try:
        with engine.connect() as fresh:
            assert fresh.exec_driver_sql("SELECT 1").scalar() == 1
    finally:
        engine.dispose()


def test_migrations_run_without_the_statement_bounds_and_leave_them_in_place(engine):
    with engine.begin() as connection, without_statement_bounds(connection):
        connection.exec_driver_sql("SELECT pg_sleep(1.8)")  # past statement and answer bound
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SHOW statement_timeout").scalar() == "500ms"
        dbapi_connection = connection.connection.dbapi_connection
        assert isinstance(dbapi_connection, BoundedConnection)
        assert dbapi_connection.answer_timeout == SHORT.answer_timeout

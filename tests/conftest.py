"""Fixtures shared by every layer of tests.

PostgreSQL: a fresh database per test session on MINIMART_TEST_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/test), dropped at the end. When the server is missing
the PostgreSQL tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from minimart.adapters.sqlalchemy.database import make_engine, upgrade_schema
from minimart.adapters.sqlalchemy.tables import metadata
from tests.support.needs import require

POSTGRES_ADMIN_URL = os.environ.get(
    "MINIMART_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgresql", marks=pytest.mark.postgres),
]

# Cheap Argon2 parameters: the tests exercise the real hasher, not its cost.
FAST_ARGON2 = {"minimart.argon2.time_cost": "1", "minimart.argon2.memory_cost": "64",
               "minimart.argon2.parallelism": "1"}
TEST_JWT_SECRET = "test-secret-" + "x" * 40


def _postgres_unavailable(reason: str) -> None:
    require(False, f"PostgreSQL ({reason})")


@contextmanager
def throwaway_postgres_database(revision: str = "head") -> Iterator[str]:
    """A database of its own on the PostgreSQL server, migrated to `revision`; its URL.
    Dropped on leaving."""
    admin_url = make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql+psycopg")
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT",
                              connect_args={"connect_timeout": 5})
        with admin.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # any failure to reach the server decides skip/fail
        _postgres_unavailable(str(error).splitlines()[0])
    name = f"minimart_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade_schema(engine, revision)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway database on the PostgreSQL server, migrated to the newest schema."""
    with throwaway_postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = Path(tmp_path_factory.mktemp("sqlite")) / "minimart.sqlite"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade_schema(engine)
    engine.dispose()
    return url


def _empty_all_tables(engine: Engine) -> None:
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            # the audit trail refuses TRUNCATE by trigger; the tests' superuser skips
            # triggers for this one transaction, as a restore from backup would
            connection.execute(text("SET LOCAL session_replication_role = replica"))
            connection.execute(text(f"TRUNCATE {names}"))
        else:
            for table in reversed(metadata.sorted_tables):
                connection.execute(table.delete())


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of an empty, migrated database: SQLite and PostgreSQL in turn."""
    url = request.getfixturevalue(f"{request.param}_url")
    engine = make_engine(url)
    _empty_all_tables(engine)
    engine.dispose()
    yield url


@pytest.fixture
def app_settings(database_url: str, tmp_path: Path) -> dict[str, Any]:
    return {"minimart.environment": "test", "minimart.database_url": database_url,
            "minimart.jwt_secret": TEST_JWT_SECRET, "minimart.currency": "usd",
            "minimart.images.directory": str(tmp_path / "images"), **FAST_ARGON2}

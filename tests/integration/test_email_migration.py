"""Migration 0011 on PostgreSQL: stored emails take the spelling sign-in looks them up by."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from minimart.adapters.sqlalchemy.database import make_engine, upgrade_schema
from minimart.adapters.sqlalchemy.tables import accounts
from tests.conftest import POSTGRES_ADMIN_URL

pytestmark = pytest.mark.postgres


@pytest.fixture
def database_at_0010(postgres_url: str) -> Iterator[str]:
    """A database of its own, migrated up to the revision before the one under test."""
    admin = create_engine(make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql+psycopg"),
                          isolation_level="AUTOCOMMIT")
    name = f"minimart_migration_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade_schema(engine, "0010")
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def account_row(account_id: str, email: str) -> dict[str, object]:
    return {"id": account_id, "email": email, "name": account_id, "role": "customer",
            "password_hash": "x", "created_at": datetime(2026, 1, 1, tzinfo=UTC)}


def test_stored_emails_are_normalised_unless_the_normal_spelling_is_taken(database_at_0010):
    engine = make_engine(database_at_0010)
    with engine.begin() as connection:
        connection.execute(accounts.insert(), [
            account_row("wide", "\uff57\uff49\uff44\uff45@example.com"),
            account_row("plain", "plain@example.com"),
            account_row("twin", "\uff50lain@example.com"),  # its normal spelling is taken
        ])

    upgrade_schema(engine)

    with engine.connect() as connection:
        emails = dict(connection.execute(select(accounts.c.id, accounts.c.email)).all())
    engine.dispose()
    assert emails == {"wide": "wide@example.com", "plain": "plain@example.com",
                      "twin": "\uff50lain@example.com"}

"""Migration 0011 on PostgreSQL: stored emails take the spelling sign-in looks them up by."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from minimart.adapters.sqlalchemy.database import make_engine, upgrade_schema
from minimart.adapters.sqlalchemy.tables import accounts
from tests.conftest import throwaway_postgres_database

pytestmark = pytest.mark.postgres


@pytest.fixture
def database_at_0010() -> Iterator[str]:
    """A database of its own, migrated up to the revision before the one under test."""
    with throwaway_postgres_database("0010") as url:
        yield url


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

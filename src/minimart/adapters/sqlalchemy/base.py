"""What every SQLAlchemy repository shares: the request's Session, writes that pyramid_tm
keeps, upserts in either dialect, and telling which unique constraint refused a write.

Repositories run SQLAlchemy Core through the request's Session, so pyramid_tm owns the
commits. Core statements are invisible to zope.sqlalchemy's change tracking, so every write
marks the session changed; otherwise the transaction manager would roll the work back.

The statements of the hot paths are built once, at import, and take their values as bound
parameters: a statement built per call costs more Python than the database takes to run it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Column, Executable, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from zope.sqlalchemy import mark_changed


class Repository:
    """A repository on one Session; `_write` runs a statement that changes rows."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def _write(self, statement: Executable, parameters: Any = None) -> Any:
        result = self._session.execute(statement, parameters)
        mark_changed(self._session)
        return result


def dialect_insert(dialect: str, table: Table) -> Any:
    """An INSERT that takes ON CONFLICT clauses, in `dialect` ("postgresql" or "sqlite":
    they spell them alike)."""
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


def insert_or_skip(session: Session, table: Table, values: dict[str, Any],
                   returning: Column[Any]) -> bool:
    """INSERT .. ON CONFLICT DO NOTHING; True if this call inserted the row. A concurrent
    insert of the same key waits until the first transaction ends."""
    statement = _insert_or_skip(session.get_bind().dialect.name, table, returning)
    inserted = session.execute(statement, values).first() is not None
    mark_changed(session)
    return inserted


@cache
def _insert_or_skip(dialect: str, table: Table, returning: Column[Any]) -> Any:
    return dialect_insert(dialect, table).on_conflict_do_nothing().returning(returning)


# A unique constraint and the column SQLite names when it refuses a write for it.
_UNIQUE_COLUMNS = {"uq_items_sku": "items.sku", "uq_accounts_email": "accounts.email",
                   "uq_categories_name_key": "categories.name_key"}


def violates(error: IntegrityError, constraint: str) -> bool:
    """Whether the database refused the write for this unique constraint, not another."""
    text = str(error.orig)
    return (constraint in text
            or f"UNIQUE constraint failed: {_UNIQUE_COLUMNS[constraint]}" in text)

"""The audit trail is append-only in PostgreSQL itself: triggers refuse UPDATE, DELETE and
TRUNCATE on audit_events, even on the application's own connection, so no bug and no SQL
injection in the app can rewrite history. INSERT keeps working."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from minimart.adapters.sqlalchemy.audit import SqlAlchemyAuditLog
from minimart.adapters.sqlalchemy.database import make_engine
from minimart.adapters.sqlalchemy.tables import audit_events
from minimart.domain.audit import AuditEvent

pytestmark = pytest.mark.postgres

INSUFFICIENT_PRIVILEGE = "42501"


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    """The engine the app itself would build for this database: same user, same rights."""
    engine = make_engine(postgres_url)
    assert engine.dialect.name == "postgresql"
    yield engine
    engine.dispose()


@pytest.fixture
def event_id(engine: Engine) -> str:
    """One committed audit event, written the way the app writes them."""
    event = AuditEvent(id=uuid.uuid4().hex, at=datetime.now(UTC), actor_id="admin-1",
                       action="item.updated", entity_type="item", entity_id="item-1",
                       changes={"price": [100, 200]}, request_id="req-1")
    with Session(engine) as session, session.begin():
        SqlAlchemyAuditLog(session).record(event)
    return event.id


def stored(engine: Engine, event_id: str) -> tuple[object, ...] | None:
    with engine.connect() as connection:
        row = connection.execute(
            select(audit_events.c.action, audit_events.c.changes, audit_events.c.actor_id)
            .where(audit_events.c.id == event_id)).first()
    return None if row is None else tuple(row)


def refused(engine: Engine, statement: object) -> DBAPIError:
    with pytest.raises(DBAPIError) as raised, engine.begin() as connection:
        connection.execute(statement)
    return raised.value


def test_inserting_an_audit_event_works_and_it_reads_back(engine, event_id):
    assert stored(engine, event_id) == ("item.updated", {"price": [100, 200]}, "admin-1")


def test_updating_an_audit_event_is_refused_by_the_database(engine, event_id):
    error = refused(engine, audit_events.update().where(audit_events.c.id == event_id)
                    .values(action="item.viewed", changes={}, actor_id="someone-else"))

    assert error.orig is not None
    assert getattr(error.orig, "sqlstate", None) == INSUFFICIENT_PRIVILEGE
    assert "append-only" in str(error.orig)
    assert stored(engine, event_id) == ("item.updated", {"price": [100, 200]}, "admin-1")


def test_deleting_an_audit_event_is_refused_by_the_database(engine, event_id):
    error = refused(engine, audit_events.delete().where(audit_events.c.id == event_id))

    assert getattr(error.orig, "sqlstate", None) == INSUFFICIENT_PRIVILEGE
    assert "append-only" in str(error.orig)
    assert stored(engine, event_id) is not None


def test_deleting_every_audit_event_at_once_is_refused_too(engine, event_id):
    with engine.connect() as connection:
        before = connection.execute(select(func.count()).select_from(audit_events)).scalar()

    refused(engine, audit_events.delete())

    with engine.connect() as connection:
        after = connection.execute(select(func.count()).select_from(audit_events)).scalar()
    assert after == before >= 1


def test_truncating_the_audit_trail_is_refused_too(engine, event_id):
    error = refused(engine, text("TRUNCATE audit_events"))

    assert getattr(error.orig, "sqlstate", None) == INSUFFICIENT_PRIVILEGE
    assert stored(engine, event_id) == ("item.updated", {"price": [100, 200]}, "admin-1")


def test_a_refused_update_rolls_back_the_whole_transaction(engine, event_id):
    """A change that writes its event and then tries to rewrite an old one commits neither."""
    fresh = uuid.uuid4().hex
    with pytest.raises(DBAPIError), engine.begin() as connection:
        connection.execute(audit_events.insert().values(
            id=fresh, at=datetime.now(UTC), actor_id="admin-1", action="item.created",
            entity_type="item", entity_id="item-2", changes={}, request_id="req-2"))
        connection.execute(audit_events.update().where(audit_events.c.id == event_id)
                           .values(action="tampered"))

    assert stored(engine, fresh) is None
    assert stored(engine, event_id) == ("item.updated", {"price": [100, 200]}, "admin-1")


def test_the_orm_session_the_app_uses_cannot_update_an_event_either(engine, event_id):
    with pytest.raises(DBAPIError), Session(engine) as session, session.begin():
        session.execute(audit_events.update().where(audit_events.c.id == event_id)
                        .values(request_id="forged"))

    with engine.connect() as connection:
        request_id = connection.execute(select(audit_events.c.request_id)
                                        .where(audit_events.c.id == event_id)).scalar_one()
    assert request_id == "req-1"

"""What only the SQLAlchemy side promises, on SQLite and PostgreSQL: a transaction that fails
keeps none of its writes, writes are invisible to others until committed, and the migrated
schema is exactly tables.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
import transaction
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from minimart.adapters.sqlalchemy.database import schema_is_current
from minimart.adapters.sqlalchemy.tables import metadata
from minimart.domain.audit import AuditEvent, AuditQuery
from minimart.domain.categories import Category
from minimart.domain.ids import new_id
from minimart.domain.payments import PaymentEvent
from minimart.domain.store import StoreSettings
from tests.integration.contracts.conftest import (
    CURRENCY,
    T0,
    Repos,
    SqlStore,
    make_account,
    make_item,
)


def test_a_transaction_that_fails_keeps_none_of_its_writes(sql_store: SqlStore):
    item, account = make_item(), make_account()
    category = Category(id=new_id(), name="Teas", description="", position=1, created_at=T0,
                        updated_at=T0)
    delivery = PaymentEvent(id="evt_1", kind=None, type="payment_intent.created",
                            payment_intent_id="pi_1")

    def job(r: Repos) -> None:
        r.items.add(item)
        r.accounts.add(account)
        r.categories.add(category)
        r.store_settings.save(StoreSettings(name="Corner shop", currency=CURRENCY), T0)
        r.audit.record(AuditEvent(id=new_id(), at=T0, actor_id=None, action="item.created",
                                  entity_type="item", entity_id=item.id))
        r.idempotency.claim(account.id, "key-1", "fp", new_id(), T0)
        r.payment_events.first_delivery(delivery, T0)
        r.ended_sign_ins.end("sign-in-1", T0 + timedelta(hours=1), T0)
        r.login_throttle.take("address:192.0.2.1", 1, T0, timedelta(minutes=15))
        raise RuntimeError("something after the writes failed")

    with pytest.raises(RuntimeError):
        sql_store.work(job)

    def kept(r: Repos) -> list[object]:
        return [r.items.get(item.id), r.accounts.get(account.id), r.categories.get(category.id),
                r.store_settings.get(),
                r.audit.find(AuditQuery(entity_id=item.id)),
                r.idempotency.claim(account.id, "key-1", "fp", new_id(), T0),
                r.payment_events.first_delivery(delivery, T0),
                r.ended_sign_ins.has_ended("sign-in-1"),
                r.login_throttle.take("address:192.0.2.1", 1, T0, timedelta(minutes=15))]

    assert sql_store.read(kept) == [None, None, None, None, [], None, True, False, None]


def test_writes_are_invisible_to_others_until_committed(sql_store: SqlStore):
    item = make_item()
    manager = transaction.TransactionManager(explicit=True)
    manager.begin()
    try:
        sql_store.repos(manager).items.add(item)
        assert sql_store.read(lambda r: r.items.get(item.id)) is None
    except BaseException:
        manager.abort()
        raise
    manager.commit()

    assert sql_store.read(lambda r: r.items.get(item.id)) == item


def test_the_migrated_schema_is_current(sql_store: SqlStore):
    assert schema_is_current(sql_store.engine)


def test_the_alembic_migrations_build_exactly_the_tables_of_tables_py(sql_store: SqlStore):
    with sql_store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "compare_type": True, "compare_server_default": True})
        differences = compare_metadata(context, metadata)

    assert differences == []

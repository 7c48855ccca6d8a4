"""`minimart -c <ini> reconcile-payments`: the cron job that asks the payment provider about
orders pending for a while, so a missed webhook heals.

The memory gateway lives in its process; both the app that places the orders and the CLI
share one here, standing in for Stripe.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from minimart import composition, make_app
from minimart.adapters.payment_simulator import MemoryPaymentGateway
from minimart.adapters.sqlalchemy.tables import items, orders
from minimart.domain.actors import Actor, Role
from minimart.domain.catalog import NewItem
from minimart.domain.orders import Order, PlaceOrder, RequestedLine
from minimart.domain.payments import PaymentStatus
from minimart.entrypoints.cli import main
from tests.conftest import FAST_ARGON2, TEST_JWT_SECRET
from tests.functional.cli_inis import migrated_ini

REPORT = re.compile(r"^checked (\d+) pending orders: (\d+) paid, (\d+) cancelled; "
                    r"(\d+) refunds finished; (\d+) could not be checked", re.MULTILINE)


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> MemoryPaymentGateway:
    """The one simulated provider every app built in this test talks to."""
    shared = MemoryPaymentGateway()
    monkeypatch.setattr(composition, "MemoryPaymentGateway", lambda: shared)
    return shared


@pytest.fixture
def settings(tmp_path: Path) -> dict[str, str]:
    return {"minimart.environment": "test",
            "minimart.database_url": f"sqlite:///{tmp_path / 'reconcile.sqlite'}",
            "minimart.jwt_secret": TEST_JWT_SECRET, "minimart.currency": "usd",
            "minimart.images.directory": str(tmp_path / "images"),
            "minimart.reconcile_after_minutes": "5", **FAST_ARGON2}


@pytest.fixture
def ini(tmp_path: Path, settings: dict[str, str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> str:
    """An ini for a fresh SQLite file, its schema made by `minimart db upgrade`."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    ini = migrated_ini(tmp_path / "reconcile.ini", settings)
    capsys.readouterr()
    return ini


@pytest.fixture
def app(ini: str, settings: dict[str, str], gateway: MemoryPaymentGateway) -> Iterator[Any]:
    wsgi = make_app(settings, environ={})
    yield wsgi
    wsgi.registry.container.engine.dispose()


def work(app: Any, job: Any) -> Any:
    container = app.registry.container
    return container.in_transaction(job)


def place(app: Any, shopper: Actor, item_id: str, quantity: int) -> Order:
    return work(app, lambda services: services.orders.place_order(
        PlaceOrder(lines=(RequestedLine(item_id, quantity),)), shopper).order)


def backdate(app: Any, order_id: str, minutes: int) -> None:
    with app.registry.container.engine.begin() as connection:
        connection.execute(orders.update().where(orders.c.id == order_id).values(
            created_at=datetime.now(UTC) - timedelta(minutes=minutes)))


def status_and_stock(app: Any, order_id: str, item_id: str) -> tuple[str, int]:
    with app.registry.container.engine.connect() as connection:
        status = connection.execute(
            select(orders.c.status).where(orders.c.id == order_id)).scalar_one()
        stock = connection.execute(
            select(items.c.stock).where(items.c.id == item_id)).scalar_one()
    return status, stock


def test_reconcile_payments_applies_what_the_provider_knows_and_prints_a_report(
        ini, app, gateway, capsys):
    def seed(services: Any) -> tuple[Actor, str]:
        account = services.accounts.create_account(
            "shopper@example.com", "a long password", "Shopper", Role.CUSTOMER,
            Actor.system())
        item = services.catalog.create_item(NewItem(name="Jam", price=300, stock=10),
                                            Actor.system())
        return Actor(account.id, Role.CUSTOMER), item.id

    shopper, jam = work(app, seed)
    paid_at_provider = place(app, shopper, jam, 1)
    cancelled_at_provider = place(app, shopper, jam, 2)
    too_young = place(app, shopper, jam, 3)
    for order in (paid_at_provider, cancelled_at_provider, too_young):
        assert order.payment.payment_intent_id is not None
    gateway.settle(paid_at_provider.payment.payment_intent_id or "", PaymentStatus.SUCCEEDED)
    gateway.settle(cancelled_at_provider.payment.payment_intent_id or "",
                   PaymentStatus.CANCELED)
    gateway.settle(too_young.payment.payment_intent_id or "", PaymentStatus.SUCCEEDED)
    backdate(app, paid_at_provider.id, minutes=10)
    backdate(app, cancelled_at_provider.id, minutes=10)
    backdate(app, too_young.id, minutes=2)

    assert main(["-c", ini, "reconcile-payments"]) == 0

    out = capsys.readouterr().out
    report = REPORT.search(out)
    assert report is not None, out
    assert report.groups() == ("2", "1", "1", "0", "0")  # checked, paid, cancelled, refunds, failed
    assert status_and_stock(app, paid_at_provider.id, jam) == ("paid", 6)  # 2 came back
    assert status_and_stock(app, cancelled_at_provider.id, jam)[0] == "cancelled"
    assert status_and_stock(app, too_young.id, jam)[0] == "pending_payment"

    # a second run finds nothing more to do
    assert main(["-c", ini, "reconcile-payments"]) == 0
    second = REPORT.search(capsys.readouterr().out)
    assert second is not None
    assert second.groups() == ("0", "0", "0", "0", "0")

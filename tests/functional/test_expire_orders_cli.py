"""`minimart -c <ini> expire-orders`: the cron job that cancels unpaid orders past the TTL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from minimart import make_app
from minimart.adapters.sqlalchemy.tables import items, orders
from minimart.domain.actors import Actor, Role
from minimart.domain.catalog import NewItem
from minimart.domain.orders import PlaceOrder, RequestedLine
from minimart.entrypoints.cli import main
from tests.conftest import FAST_ARGON2, TEST_JWT_SECRET
from tests.functional.cli_inis import migrated_ini


@pytest.fixture
def settings(tmp_path: Path) -> dict[str, str]:
    return {"minimart.environment": "test",
            "minimart.database_url": f"sqlite:///{tmp_path / 'cli.sqlite'}",
            "minimart.jwt_secret": TEST_JWT_SECRET, "minimart.currency": "usd",
            "minimart.order_ttl_minutes": "1", **FAST_ARGON2}


@pytest.fixture
def ini(tmp_path: Path, settings: dict[str, str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> str:
    """An ini for a fresh SQLite file, its schema made by `minimart db upgrade`."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    ini = migrated_ini(tmp_path / "cli.ini", settings)
    assert "database schema is current" in capsys.readouterr().out
    return ini


class Shop:
    """The same database, driven through the services as a request would."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.engine = app.registry.container.engine

    def work(self, job: Any) -> Any:
        container = self.app.registry.container
        return container.in_transaction(job)

    def seed(self) -> tuple[Actor, str]:
        """A shopper and an item with 10 in stock."""
        def job(services: Any) -> tuple[Actor, str]:
            account = services.accounts.create_account(
                "shopper@example.com", "a long password", "Shopper", Role.CUSTOMER,
                Actor.system())
            item = services.catalog.create_item(NewItem(name="Jam", price=300, stock=10),
                                                Actor.system())
            return Actor(account.id, Role.CUSTOMER), item.id
        return self.work(job)

    def order(self, shopper: Actor, item_id: str, quantity: int,
              payment_method: str | None = None) -> str:
        return self.work(lambda services: services.orders.place_order(
            PlaceOrder(lines=(RequestedLine(item_id, quantity),),
                       payment_method=payment_method), shopper).order.id)

    def backdate(self, order_id: str, minutes: int) -> None:
        with self.engine.begin() as connection:
            connection.execute(orders.update().where(orders.c.id == order_id).values(
                created_at=datetime.now(UTC) - timedelta(minutes=minutes)))

    def status(self, order_id: str) -> str:
        with self.engine.connect() as connection:
            return connection.execute(
                select(orders.c.status).where(orders.c.id == order_id)).scalar_one()

    def stock(self, item_id: str) -> int:
        with self.engine.connect() as connection:
            return connection.execute(
                select(items.c.stock).where(items.c.id == item_id)).scalar_one()


@pytest.fixture
def shop(ini: str, settings: dict[str, str]) -> Iterator[Shop]:
    app = make_app(settings, environ={})
    yield Shop(app)
    app.registry.container.engine.dispose()


def expire(ini: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["-c", ini, "expire-orders"]) == 0
    return capsys.readouterr().out


def test_expire_orders_cancels_an_unpaid_order_past_the_ttl_and_returns_its_stock(
        ini, shop, capsys):
    shopper, item_id = shop.seed()
    order_id = shop.order(shopper, item_id, 4)
    paid_id = shop.order(shopper, item_id, 1, payment_method="pm_card_visa")
    assert (shop.status(order_id), shop.stock(item_id)) == ("pending_payment", 5)
    shop.backdate(order_id, minutes=2)
    shop.backdate(paid_id, minutes=2)

    assert re.search(r"\bexpired 1\b", expire(ini, capsys))
    assert shop.status(order_id) == "cancelled"
    assert shop.status(paid_id) == "paid"
    assert shop.stock(item_id) == 9

    assert re.search(r"\bexpired 0\b", expire(ini, capsys))
    assert shop.stock(item_id) == 9


def test_expire_orders_leaves_an_order_younger_than_the_ttl(ini, shop, capsys):
    shopper, item_id = shop.seed()
    order_id = shop.order(shopper, item_id, 4)
    assert re.search(r"\bexpired 0\b", expire(ini, capsys))
    assert shop.status(order_id) == "pending_payment"
    assert shop.stock(item_id) == 6

"""The owner's dashboard figures, on the memory fakes: daily sales by the store's own
calendar, and the items running low."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from minimart.domain.errors import Forbidden, ValidationFailed
from minimart.domain.money import Money
from tests.unit.test_order_service import ADMIN, CUSTOMER, STAFF, SYSTEM, Shop


@pytest.fixture
def shop() -> Shop:
    return Shop()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_daily_sales_follow_the_store_calendar_across_a_clock_change():
    """Paris moves its clocks on 29 March 2026: days end at local midnight, not UTC's."""
    shop = Shop()
    shop.store.update({"time_zone": "Europe/Paris"}, ADMIN)
    tea = shop.item(price=250, stock=50)
    placed = {}
    for moment in ("2026-03-27T22:30", "2026-03-27T23:30", "2026-03-28T23:30"):
        shop.clock.current = at(moment)
        placed[moment] = shop.place((tea, 1), payment_method="pm_card_visa")
    shop.clock.current = at("2026-03-29T12:00")

    days = shop.service.daily_sales(3, STAFF)

    total = placed["2026-03-27T22:30"].totals.total
    assert [(d.day, d.orders, d.revenue) for d in days] == [
        (date(2026, 3, 27), 1, total),   # 23:30 in Paris
        (date(2026, 3, 28), 1, total),   # 00:30 in Paris the next day
        (date(2026, 3, 29), 1, total),   # 00:30 again, the night the clocks go forward
    ]


def test_cancelled_orders_do_not_count_and_refunds_come_off_the_revenue(shop):
    tea = shop.item(price=1000, stock=50)
    paid = shop.place((tea, 1), payment_method="pm_card_visa")
    shop.place((tea, 2))  # pending: an order, no money yet
    cancelled = shop.place((tea, 1))
    shop.service.cancel(cancelled.id, CUSTOMER)
    refunded = shop.place((tea, 3), payment_method="pm_card_visa")
    shop.service.refund(refunded.id, ADMIN)

    today = shop.service.daily_sales(1, STAFF)[-1]

    assert today.day == shop.clock.now().date()
    assert today.orders == 3
    assert today.revenue == paid.totals.total


def test_days_without_orders_are_reported_as_zero_in_the_shop_currency(shop):
    days = shop.service.daily_sales(30, ADMIN)

    assert len(days) == 30
    assert days[-1].day == shop.clock.now().date()
    assert all(d.orders == 0 and d.revenue == Money(0, "usd") for d in days)
    assert [d.day.toordinal() for d in days] == list(range(days[0].day.toordinal(),
                                                           days[0].day.toordinal() + 30))


def test_a_customer_may_not_read_the_sales_figures(shop):
    with pytest.raises(Forbidden):
        shop.service.daily_sales(30, CUSTOMER)


@pytest.mark.parametrize("days", [0, 367])
def test_the_report_covers_one_day_to_a_year(shop, days):
    with pytest.raises(ValidationFailed):
        shop.service.daily_sales(days, STAFF)


def test_low_stock_lists_what_to_restock_for_staff_only(shop):
    shop.item("Plenty", stock=40)
    shop.item("Almost gone", stock=1)
    gone = shop.item("Gone", stock=0)
    archived = shop.item("Old", stock=0)
    shop.catalog.archive_item(archived, SYSTEM)

    low = shop.catalog.low_stock(5, 10, STAFF)

    assert [(i.id == gone, i.name, i.stock) for i in low] == [(True, "Gone", 0),
                                                            (False, "Almost gone", 1)]
    with pytest.raises(Forbidden):
        shop.catalog.low_stock(5, 10, CUSTOMER)

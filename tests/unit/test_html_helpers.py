"""The web pages' small helpers: money typed and shown, forms read through the API's
schemas, and the dashboard chart's scale."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from minimart.domain.errors import ValidationFailed
from minimart.domain.money import Money
from minimart.domain.orders import DailySales
from minimart.entrypoints.schemas.items import ItemCreateText
from minimart.entrypoints.schemas.orders import OrderIn
from minimart.entrypoints.web.html.chart import nice_step, sales_chart
from minimart.entrypoints.web.html.forms import (
    FORM,
    amount,
    optional_text,
    read_form,
    text,
    whole_number,
)
from minimart.entrypoints.web.html.money import format_money, parse_amount


@pytest.mark.parametrize(("typed", "currency", "minor"), [
    ("12.50", "usd", 1250), ("12.5", "usd", 1250), ("12", "usd", 1200), (" 0.07 ", "usd", 7),
    ("0", "usd", 0), ("1200", "jpy", 1200), ("1.234", "kwd", 1234),
    ("9999999999.99", "usd", 999999999999),
])
def test_a_typed_amount_becomes_minor_units_without_floats(typed, currency, minor):
    assert parse_amount(typed, currency) == minor


@pytest.mark.parametrize(("typed", "currency"), [
    ("12,50", "usd"), ("12.505", "usd"), ("-1", "usd"), ("", "usd"), ("1e3", "usd"),
    ("12.5", "jpy"), ("$12", "usd"), ("١٢", "usd"), ("0.1", "xof"),
])
def test_an_unreadable_amount_is_refused_with_an_example(typed, currency):
    with pytest.raises(ValueError, match="Enter an amount such as"):
        parse_amount(typed, currency)


@pytest.mark.parametrize(("money", "shown"), [
    (Money(1250, "usd"), "$12.50"), (Money(123456789, "usd"), "$1,234,567.89"),
    (Money(5, "eur"), "€0.05"), (Money(1200, "jpy"), "¥1,200"),
    (Money(-250, "gbp"), "-£2.50"), (Money(1000, "chf"), "10.00 CHF"),
])
def test_money_is_shown_with_its_currency(money, shown):
    assert format_money(money) == shown


def test_whole_amounts_drop_the_zero_fraction_on_chart_axes():
    assert format_money(Money(2500, "usd"), whole=True) == "$25"
    assert format_money(Money(2550, "usd"), whole=True) == "$25.50"


def item_fields():
    return {"name": text, "sku": optional_text, "price": amount("usd"), "stock": whole_number}


def test_a_form_is_converted_then_loaded_by_the_api_schema():
    data, form = read_form({"name": " Tea ", "sku": "", "price": "4.50", "stock": "3"},
                           item_fields(), ItemCreateText())

    assert data == {"name": "Tea", "sku": None, "price": 450, "stock": 3}
    assert form.valid


def test_every_problem_is_reported_beside_its_field_and_the_values_are_kept():
    typed = {"name": "", "sku": "no spaces", "price": "4,50", "stock": "many"}

    data, form = read_form(typed, item_fields(), ItemCreateText())

    assert data is None
    assert form.values == typed
    assert form.error("price") == ["Enter an amount such as 12.50."]
    assert form.error("stock") == ["Enter a whole number."]
    assert form.error("name") and form.error("sku")
    assert FORM not in form.errors


def test_a_price_the_schema_refuses_is_reported_by_the_schema():
    _, form = read_form({"name": "Tea", "sku": "", "price": "99999999999.00", "stock": "1"},
                        item_fields(), ItemCreateText())

    assert form.error("price") and "Enter an amount" not in form.error("price")[0]


def test_nested_schema_messages_reach_their_field_through_aliases():
    data, form = read_form({"quantity": "0"}, {"quantity": whole_number}, OrderIn(),
                           aliases={"lines.0.quantity": "quantity"},
                           build=lambda d: {"lines": [{"item_id": "x", **d}]})

    assert data is None
    assert form.error("quantity")


def test_a_domain_refusal_naming_no_field_goes_above_the_form():
    from unittest.mock import MagicMock

    from minimart.entrypoints.web.html.forms import refuse

    _, form = read_form({"name": "Tea", "sku": "", "price": "1", "stock": "1"},
                        item_fields(), ItemCreateText())
    request = MagicMock()
    refuse(request, form, ValidationFailed("the item is not valid",
                                           details={"price": ["must not be negative"],
                                                    "elsewhere": ["not a field here"]}))

    request.tm.doom.assert_called_once()
    assert request.response.status_int == 422
    assert form.error("price") == ["Must not be negative."]
    assert form.error(FORM) == ["Not a field here."]


@pytest.mark.parametrize(("maximum", "step"), [(0, 1), (1, 1), (3, 1), (9, 5), (40, 10),
                                               (1234, 500), (100_000, 50_000)])
def test_chart_axes_step_in_round_numbers(maximum, step):
    assert nice_step(maximum) == step
    assert step * 4 >= maximum


def test_the_chart_scales_the_best_day_to_fit_and_labels_today():
    first = date(2026, 3, 1)
    days = [DailySales(first + timedelta(days=n), n % 3, Money(n * 100, "usd"))
            for n in range(30)]

    chart = sales_chart(days, "usd")

    assert len(chart.bars) == len(chart.points) == 30
    plot_bottom = chart.height - chart.bottom
    assert all(chart.top - 0.01 <= bar.y <= plot_bottom for bar in chart.bars)
    assert max(bar.height for bar in chart.bars) == pytest.approx(
        (plot_bottom - chart.top) * 2900 / (nice_step(2900) * 4))
    assert chart.day_labels[-1].label == "Today"
    assert chart.bars[-1].title == "Mon 30 Mar: $29.00"
    assert not chart.empty
    assert sales_chart([DailySales(first, 0, Money(0, "usd"))], "usd").empty

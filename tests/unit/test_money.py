"""Money: an integer count of a currency's minor unit; floats and mixed currencies refused."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from minimart.domain.money import Money, validate_currency


def test_money_keeps_the_amount_in_minor_units_and_the_currency():
    price = Money(1999, "usd")

    assert price.amount == 1999
    assert price.currency == "usd"


@pytest.mark.parametrize("amount", [19.99, 20.0, Decimal("19.99"), "1999", None, True, False])
def test_money_refuses_an_amount_that_is_not_an_integer(amount):
    with pytest.raises(TypeError, match="integer"):
        Money(amount, "usd")


@pytest.mark.parametrize("currency", ["USD", "us", "usdd", "", "u$d", " usd", "12a"])
def test_money_refuses_a_currency_that_is_not_a_lowercase_iso_code(currency):
    with pytest.raises(ValueError, match="ISO 4217"):
        Money(100, currency)


def test_validate_currency_returns_a_valid_code_unchanged():
    assert validate_currency("eur") == "eur"


def test_adding_money_of_one_currency_adds_the_amounts():
    assert Money(1999, "usd") + Money(1, "usd") == Money(2000, "usd")


def test_subtracting_money_of_one_currency_subtracts_the_amounts():
    assert Money(500, "usd") - Money(750, "usd") == Money(-250, "usd")


@pytest.mark.parametrize("operation", [
    lambda a, b: a + b,
    lambda a, b: a - b,
], ids=["add", "subtract"])
def test_mixing_currencies_is_refused(operation):
    with pytest.raises(ValueError, match="cannot mix usd and eur"):
        operation(Money(100, "usd"), Money(100, "eur"))


def test_times_multiplies_the_amount_by_a_quantity():
    assert Money(333, "usd").times(3) == Money(999, "usd")
    assert Money(333, "usd").times(0) == Money(0, "usd")


def test_zero_is_no_money_in_the_given_currency():
    assert Money.zero("gbp") == Money(0, "gbp")


def test_is_negative_only_below_zero():
    assert Money(-1, "usd").is_negative()
    assert not Money(0, "usd").is_negative()
    assert not Money(1, "usd").is_negative()


def test_money_values_are_equal_by_amount_and_currency_and_hashable():
    assert Money(100, "usd") == Money(100, "usd")
    assert Money(100, "usd") != Money(100, "eur")
    assert Money(100, "usd") != Money(101, "usd")
    assert len({Money(100, "usd"), Money(100, "usd"), Money(100, "eur")}) == 2


def test_money_is_immutable():
    price = Money(100, "usd")

    with pytest.raises(dataclasses.FrozenInstanceError):
        price.amount = 200  # type: ignore[misc]


def test_arithmetic_returns_new_values_and_leaves_the_operands_alone():
    a, b = Money(100, "usd"), Money(50, "usd")

    total = a + b

    assert (a.amount, b.amount, total.amount) == (100, 50, 150)
    assert total is not a

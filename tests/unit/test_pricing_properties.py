"""Properties of order pricing (domain.pricing), checked with hypothesis.

API.md (Orders): every amount is an integer count of minor units,
`total = subtotal + tax + delivery_fee + tip`, tax is the store rate on the subtotal
rounded half-up to the minor unit, the tip is 0..50% of the subtotal, and the delivery fee
is charged only for a delivery.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from minimart.domain.errors import ValidationFailed
from minimart.domain.money import Money
from minimart.domain.pricing import MAX_TIP_PERCENT, Pricing, compute_totals, tax_on

CURRENCY = "usd"
BOUNDED = settings(max_examples=200, deadline=None, database=None,
                   suppress_health_check=[HealthCheck.too_slow])

amounts = st.integers(min_value=0, max_value=10**10)
rates = st.integers(min_value=0, max_value=10_000)
fees = st.integers(min_value=0, max_value=10**6)
line_amounts = st.lists(st.integers(min_value=0, max_value=10**8), min_size=1, max_size=20)


def money(amounts_: list[int]) -> list[Money]:
    return [Money(a, CURRENCY) for a in amounts_]


def exact_tax(subtotal: int, rate_bps: int) -> Fraction:
    return Fraction(subtotal * rate_bps, 10_000)


def half_up(value: Fraction) -> int:
    """Round to the nearest integer, halves away from zero (values here are >= 0)."""
    return int((value + Fraction(1, 2)).__floor__())


@st.composite
def orders(draw: st.DrawFn) -> tuple[list[int], Pricing, bool, int]:
    """Line totals, the store's rates, pickup or delivery, and a tip within the 50% cap."""
    lines = draw(line_amounts)
    pricing = Pricing(currency=CURRENCY, tax_rate_bps=draw(rates), delivery_fee=draw(fees))
    delivery = draw(st.booleans())
    tip = draw(st.integers(min_value=0, max_value=sum(lines) * MAX_TIP_PERCENT // 100))
    return lines, pricing, delivery, tip


# --- tax_on --------------------------------------------------------------------------------

@BOUNDED
@given(subtotal=amounts, rate_bps=rates)
def test_tax_is_never_negative_and_never_above_the_subtotal(subtotal, rate_bps):
    tax = tax_on(subtotal, rate_bps)

    assert 0 <= tax <= subtotal


@BOUNDED
@given(subtotal=amounts, rate_bps=rates)
@example(subtotal=5, rate_bps=1_000)  # 0.5 exactly
@example(subtotal=15, rate_bps=1_000)  # 1.5 exactly
@example(subtotal=4, rate_bps=1_000)  # 0.4
@example(subtotal=1, rate_bps=4_999)  # 0.4999
@example(subtotal=1, rate_bps=5_001)  # 0.5001
def test_tax_is_within_half_a_minor_unit_of_the_exact_rate(subtotal, rate_bps):
    exact = exact_tax(subtotal, rate_bps)

    assert abs(tax_on(subtotal, rate_bps) - exact) <= Fraction(1, 2)


@BOUNDED
@given(subtotal=amounts, rate_bps=rates)
def test_tax_is_the_exact_rate_rounded_half_up(subtotal, rate_bps):
    assert tax_on(subtotal, rate_bps) == half_up(exact_tax(subtotal, rate_bps))


@BOUNDED
@given(whole=st.integers(min_value=0, max_value=10**9))
def test_tax_of_exactly_half_a_minor_unit_rounds_up(whole):
    # subtotal * 5000 bps = subtotal / 2: an odd subtotal sits exactly on a half
    subtotal = 2 * whole + 1

    assert exact_tax(subtotal, 5_000) == whole + Fraction(1, 2)
    assert tax_on(subtotal, 5_000) == whole + 1


@pytest.mark.parametrize(("subtotal", "rate_bps", "tax"), [
    (5, 1_000, 1),        # 0.5 -> 1
    (15, 1_000, 2),       # 1.5 -> 2
    (25, 1_000, 3),       # 2.5 -> 3 (half-up, not banker's rounding to 2)
    (4, 1_000, 0),        # 0.4 -> 0
    (1999, 825, 165),     # 164.9175 -> 165
    (1000, 825, 83),      # 82.5 -> 83
    (0, 10_000, 0),
    (1234, 10_000, 1234),  # 100%
    (1234, 0, 0),
])
def test_tax_examples(subtotal, rate_bps, tax):
    assert tax_on(subtotal, rate_bps) == tax


# --- compute_totals --------------------------------------------------------------------------

@BOUNDED
@given(order=orders())
def test_totals_are_never_negative(order):
    lines, pricing, delivery, tip = order

    totals = compute_totals(money(lines), pricing, delivery, tip)

    for part in (totals.subtotal, totals.tax, totals.delivery_fee, totals.tip, totals.total):
        assert part.amount >= 0
        assert part.currency == CURRENCY


@BOUNDED
@given(order=orders())
def test_total_is_subtotal_plus_tax_plus_delivery_fee_plus_tip(order):
    lines, pricing, delivery, tip = order

    totals = compute_totals(money(lines), pricing, delivery, tip)

    assert totals.subtotal.amount == sum(lines)
    assert totals.tip.amount == tip
    assert totals.total.amount == (totals.subtotal.amount + totals.tax.amount
                                   + totals.delivery_fee.amount + totals.tip.amount)


@BOUNDED
@given(order=orders())
def test_tax_is_the_store_rate_on_the_subtotal_only(order):
    lines, pricing, delivery, tip = order

    totals = compute_totals(money(lines), pricing, delivery, tip)

    assert totals.tax.amount == half_up(exact_tax(sum(lines), pricing.tax_rate_bps))


@BOUNDED
@given(order=orders())
def test_delivery_fee_is_charged_only_for_a_delivery(order):
    lines, pricing, _, tip = order

    delivered = compute_totals(money(lines), pricing, True, tip)
    picked_up = compute_totals(money(lines), pricing, False, tip)

    assert delivered.delivery_fee.amount == pricing.delivery_fee
    assert picked_up.delivery_fee.amount == 0
    assert delivered.total.amount - picked_up.total.amount == pricing.delivery_fee


@BOUNDED
@given(lines=line_amounts, rate_bps=rates, delivery=st.booleans(), data=st.data())
def test_any_tip_up_to_half_the_subtotal_is_accepted(lines, rate_bps, delivery, data):
    subtotal = sum(lines)
    tip = data.draw(st.integers(min_value=0, max_value=subtotal // 2), label="tip")

    totals = compute_totals(money(lines), Pricing(CURRENCY, rate_bps), delivery, tip)

    assert totals.tip.amount == tip


@BOUNDED
@given(lines=line_amounts, rate_bps=rates, delivery=st.booleans(), data=st.data())
def test_a_tip_above_half_the_subtotal_is_refused(lines, rate_bps, delivery, data):
    subtotal = sum(lines)
    # the smallest tip over 50%: subtotal/2 rounded down, plus one minor unit
    tip = data.draw(st.integers(min_value=subtotal // 2 + 1, max_value=subtotal + 10**6),
                    label="tip")

    with pytest.raises(ValidationFailed) as refused:
        compute_totals(money(lines), Pricing(CURRENCY, rate_bps), delivery, tip)

    assert "tip" in refused.value.details


@BOUNDED
@given(lines=line_amounts, tip=st.integers(min_value=-10**6, max_value=-1))
def test_a_negative_tip_is_refused(lines, tip):
    with pytest.raises(ValidationFailed) as refused:
        compute_totals(money(lines), Pricing(CURRENCY, 1_000, 300), False, tip)

    assert "tip" in refused.value.details


@pytest.mark.parametrize(("subtotal", "highest_tip"), [(1000, 500), (1001, 500), (1, 0),
                                                       (0, 0)])
def test_the_tip_cap_is_exactly_half_the_subtotal(subtotal, highest_tip):
    pricing = Pricing(CURRENCY)

    accepted = compute_totals([Money(subtotal, CURRENCY)], pricing, False, highest_tip)
    assert accepted.tip.amount == highest_tip
    with pytest.raises(ValidationFailed):
        compute_totals([Money(subtotal, CURRENCY)], pricing, False, highest_tip + 1)

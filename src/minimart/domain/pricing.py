"""Order totals in integer minor units: subtotal, tax, delivery fee, tip and total.

Tax is the rate (basis points) on the subtotal, rounded half-up to the minor unit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from minimart.domain.errors import ValidationFailed
from minimart.domain.money import Money

MAX_TIP_PERCENT = 50


@dataclass(frozen=True, slots=True)
class Pricing:
    """The shop's rates, in its currency."""

    currency: str
    tax_rate_bps: int = 0
    delivery_fee: int = 0


@dataclass(frozen=True, slots=True)
class Totals:
    subtotal: Money
    tax: Money
    delivery_fee: Money
    tip: Money
    total: Money


def tax_on(subtotal: int, rate_bps: int) -> int:
    """subtotal * rate / 10_000, rounded half-up, in integers only."""
    return (subtotal * rate_bps + 5_000) // 10_000


def compute_totals(line_totals: Iterable[Money], pricing: Pricing, delivery: bool,
                   tip: int) -> Totals:
    currency = pricing.currency
    subtotal = sum((m.amount for m in line_totals), 0)
    if tip < 0 or tip * 100 > subtotal * MAX_TIP_PERCENT:
        raise ValidationFailed("the tip is out of range", details={
            "tip": [f"must be 0 to {MAX_TIP_PERCENT}% of the subtotal"]})
    tax = tax_on(subtotal, pricing.tax_rate_bps)
    fee = pricing.delivery_fee if delivery else 0
    return Totals(subtotal=Money(subtotal, currency), tax=Money(tax, currency),
                  delivery_fee=Money(fee, currency), tip=Money(tip, currency),
                  total=Money(subtotal + tax + fee + tip, currency))

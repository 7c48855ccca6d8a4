"""Money as an integer count of a currency's minor unit: floats never touch a price."""

from __future__ import annotations

import re
from dataclasses import dataclass

_CURRENCY = re.compile(r"\A[a-z]{3}\Z")


def validate_currency(code: str) -> str:
    """Return the lowercase ISO 4217 code, or raise ValueError for anything else."""
    if not _CURRENCY.match(code):
        raise ValueError(f"currency must be a lowercase ISO 4217 code, not {code!r}")
    return code


@dataclass(frozen=True, slots=True)
class Money:
    amount: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TypeError("Money.amount is an integer count of minor units")
        validate_currency(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot mix {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def times(self, quantity: int) -> Money:
        return Money(self.amount * quantity, self.currency)

    def is_negative(self) -> bool:
        return self.amount < 0

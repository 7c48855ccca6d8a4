"""Orders: what a shopper bought, at which prices, and where it stands.

The stock of every line is reserved atomically when the order is placed and returned
exactly once when it is cancelled, expired or refunded before fulfilment. Every status
change goes through a guarded transition, so racing actors (a cancel, an expiry, a payment)
cannot apply a change twice.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from minimart.domain.errors import (
    ValidationFailed,
)
from minimart.domain.money import Money
from minimart.domain.paging import PageAfter
from minimart.domain.payments import (
    PaymentStatus,
)
from minimart.domain.pricing import Totals

log = logging.getLogger(__name__)

MAX_LINES = 100
MAX_QUANTITY = 1000
MAX_REPORT_DAYS = 366


class OrderStatus(enum.StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"

    def can_become(self, target: OrderStatus) -> bool:
        return target in TRANSITIONS[self]


TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING_PAYMENT: frozenset({OrderStatus.PAID, OrderStatus.CANCELLED}),
    OrderStatus.PAID: frozenset({OrderStatus.FULFILLED, OrderStatus.REFUNDED}),
    OrderStatus.FULFILLED: frozenset({OrderStatus.REFUNDED}),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.REFUNDED: frozenset(),
}

STOCK_HELD = frozenset({OrderStatus.PENDING_PAYMENT, OrderStatus.PAID})
REFUNDABLE = frozenset({OrderStatus.PAID, OrderStatus.FULFILLED})
CANCELLED_ONLY = frozenset({OrderStatus.CANCELLED})  # money that came after cancelling
CLAIM_ATTEMPTS = 20  # a claim of "the rest" lost to another claim looks again


class FulfilmentType(enum.StrEnum):
    PICKUP = "pickup"
    DELIVERY = "delivery"


@dataclass(frozen=True, slots=True)
class Fulfilment:
    type: FulfilmentType = FulfilmentType.PICKUP
    address: str | None = None


@dataclass(frozen=True, slots=True)
class OrderLine:
    item_id: str
    sku: str | None
    name: str
    unit_price: Money
    quantity: int

    @property
    def line_total(self) -> Money:
        return self.unit_price.times(self.quantity)


@dataclass(frozen=True, slots=True)
class Payment:
    provider: str
    status: PaymentStatus = PaymentStatus.NOT_STARTED
    payment_intent_id: str | None = None
    client_secret: str | None = None
    captured: int = 0
    refunded: int = 0  # returned: sent refunds, and any the provider reported
    # Promised back: refunds claimed (sent or not yet) and any the provider reported. Only
    # the refund methods of the repository change it (and `refunded`), by guarded updates.
    refund_claimed: int = 0

    @property
    def refundable(self) -> int:
        """What a new refund may still claim."""
        return self.captured - self.refund_claimed


class RefundState(enum.StrEnum):
    """Where one refund stands. It is claimed (and committed) before the provider is asked,
    so of racing requests only its claimer asks, and a failed call can be repeated with the
    same idempotency key instead of being lost or paid twice."""

    SENDING = "sending"  # someone took it at attempted_at and is asking the provider
    CLAIMED = "claimed"  # its last call failed: the next refund request or reconcile sends it
    SENT = "sent"  # the provider accepted it
    VOID = "void"  # the provider reported the whole capture returned before it was sent


@dataclass(frozen=True, slots=True)
class Refund:
    """One refund of part (or the rest) of an order's capture."""

    id: str
    order_id: str
    amount: int
    state: RefundState
    created_at: datetime
    attempted_at: datetime | None = None
    sent_at: datetime | None = None

    @property
    def idempotency_key(self) -> str:
        """One key per refund: a repeated call is a replay, a second refund is not."""
        return f"order-{self.order_id}-refund-{self.id}"


@dataclass(frozen=True, slots=True)
class Order:
    id: str
    customer_id: str
    status: OrderStatus
    lines: tuple[OrderLine, ...]
    totals: Totals
    fulfilment: Fulfilment
    note: str | None
    payment: Payment
    created_at: datetime
    updated_at: datetime

    @property
    def currency(self) -> str:
        return self.totals.total.currency


@dataclass(frozen=True, slots=True)
class RequestedLine:
    item_id: str
    quantity: int


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    """What a shopper asks for; prices always come from the catalog, never from here."""

    lines: tuple[RequestedLine, ...]
    fulfilment: Fulfilment = field(default_factory=Fulfilment)
    tip: int = 0
    note: str | None = None
    payment_method: str | None = None

    def fingerprint(self) -> str:
        """A digest of the request, to tell a retry from a different order under one key."""
        canonical = json.dumps({
            "lines": [[line.item_id, line.quantity] for line in self.lines],
            "fulfilment": [self.fulfilment.type.value, self.fulfilment.address],
            "tip": self.tip, "note": self.note, "payment_method": self.payment_method,
        }, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class OrderQuery:
    customer_id: str | None = None
    status: OrderStatus | None = None
    limit: int = 20
    after: PageAfter | None = None


@dataclass(frozen=True, slots=True)
class Shortage:
    item_id: str
    requested: int
    available: int


@dataclass(frozen=True, slots=True)
class ClaimedKey:
    """An Idempotency-Key already taken: the order it made and the request it came with."""

    order_id: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    order: Order
    created: bool  # False when an Idempotency-Key replayed an earlier order


@dataclass(frozen=True, slots=True)
class PeriodTotals:
    """Orders placed in a period and not cancelled; the money kept from its orders."""

    orders: int
    revenue: int  # minor units: captured minus refunded


@dataclass(frozen=True, slots=True)
class DailySales:
    day: date  # in the store's time zone
    orders: int
    revenue: Money


def day_boundaries(first_day: date, days: int, zone: ZoneInfo) -> list[datetime]:
    """The local midnights that start each day from first_day on, and end the last, in UTC
    (a day is 23 or 25 hours long when the clocks change)."""
    return [datetime.combine(first_day + timedelta(days=n), time(), zone).astimezone(UTC)
            for n in range(days + 1)]


@dataclass(frozen=True, slots=True)
class OrderLimits:
    """How long unpaid orders hold stock, and how much one account may hold unpaid: without
    a bound, one shopper could keep an item's whole stock from everyone, again and again."""

    ttl: timedelta = timedelta(minutes=30)
    # an order whose payment never started (no card given, or the provider never reached)
    unstarted_ttl: timedelta = timedelta(minutes=10)
    max_pending_orders: int = 5
    max_pending_units_per_item: int = MAX_QUANTITY

    def expiry_cutoffs(self, now: datetime) -> tuple[datetime, datetime]:
        """Pending orders created before the first are expired, and those whose payment
        never started before the second."""
        return now - self.ttl, now - min(self.unstarted_ttl, self.ttl)


DEFAULT_LIMITS = OrderLimits()


@dataclass(frozen=True, slots=True)
class PendingHoldings:
    """What one account holds unpaid: its pending orders and their units per item."""

    orders: int = 0
    units: dict[str, int] = field(default_factory=dict)


# payment states in which the shopper has not begun to pay: expired after unstarted_ttl
UNSTARTED_PAYMENTS = frozenset({PaymentStatus.NOT_STARTED, PaymentStatus.REQUIRES_PAYMENT_METHOD})


def check_lines(lines: tuple[RequestedLine, ...]) -> None:
    problems: dict[str, list[str]] = {}
    if not 1 <= len(lines) <= MAX_LINES:
        problems["lines"] = [f"an order has 1 to {MAX_LINES} lines"]
    seen: set[str] = set()
    for index, line in enumerate(lines):
        if not 1 <= line.quantity <= MAX_QUANTITY:
            problems[f"lines.{index}.quantity"] = [f"must be 1 to {MAX_QUANTITY}"]
        if line.item_id in seen:
            problems[f"lines.{index}.item_id"] = ["each item may appear once"]
        seen.add(line.item_id)
    if problems:
        raise ValidationFailed("the order's lines are not valid", details=problems)


def check_fulfilment(fulfilment: Fulfilment) -> None:
    if fulfilment.type is FulfilmentType.DELIVERY and not (fulfilment.address or "").strip():
        raise ValidationFailed("a delivery needs an address",
                               details={"fulfilment.address": ["required for delivery"]})

"""In-memory fakes of the ports, for unit tests and demos. They keep the same promises
as the SQL adapters (the contract tests run both)."""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from minimart.domain.accounts import Account
from minimart.domain.audit import AuditEvent, AuditQuery
from minimart.domain.catalog import MAX_STOCK, Item, ItemQuery, sort_value
from minimart.domain.categories import Category, name_key, name_taken
from minimart.domain.errors import Conflict
from minimart.domain.ids import new_id
from minimart.domain.images import Picture
from minimart.domain.money import Money
from minimart.domain.orders import (
    ClaimedKey,
    Order,
    OrderQuery,
    OrderStatus,
    Payment,
    PendingHoldings,
    PeriodTotals,
    Refund,
    RefundState,
    Shortage,
)
from minimart.domain.payments import (
    PaymentEvent,
    PaymentIntent,
    PaymentMethodRefused,
    PaymentProviderUnavailable,
    PaymentStatus,
)
from minimart.domain.store import StoreSettings


class FixedClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


class PlainTextPasswordHasher:
    """Fast and obviously not secure: for unit tests only."""

    def hash(self, password: str) -> str:
        return "plain$" + password

    def verify(self, password_hash: str, password: str) -> bool:
        return password_hash == "plain$" + password

    def needs_rehash(self, password_hash: str) -> bool:
        return False

    def dummy_hash(self) -> str:
        return "plain$"


class MemoryAuditLog:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def record(self, event: AuditEvent) -> None:
        self.events.append(event)

    def list(self, query: AuditQuery) -> list[AuditEvent]:
        rows = sorted((e for e in self.events
                       if query.entity_type in (None, e.entity_type)
                       and query.entity_id in (None, e.entity_id)
                       and query.actor_id in (None, e.actor_id)),
                      key=lambda e: (e.at, e.id), reverse=True)
        if query.after is not None:
            rows = [e for e in rows if (e.at, e.id) < (query.after.value, query.after.id)]
        return rows[: query.limit]


def _matches(item: Item, query: ItemQuery) -> bool:
    text = (query.text or "").lower()
    checks = [
        query.include_archived or not item.archived,
        not text or text in item.name.lower() or text in item.description.lower(),
        query.min_price is None or item.price.amount >= query.min_price,
        query.max_price is None or item.price.amount <= query.max_price,
        not query.in_stock or item.stock > 0,
        query.available is None or item.available == query.available,
        query.featured is None or item.featured == query.featured,
        query.category_id is None or item.category_id == query.category_id,
    ]
    return all(checks)


class MemoryItemRepository:
    def __init__(self) -> None:
        self._items: dict[str, Item] = {}
        self._lock = threading.Lock()

    def add(self, item: Item) -> None:
        if item.sku is not None and self.get_by_sku(item.sku) is not None:
            raise Conflict(f"sku {item.sku!r} is taken", code="sku_taken")
        self._items[item.id] = item

    def get(self, item_id: str) -> Item | None:
        return self._items.get(item_id)

    def get_by_sku(self, sku: str) -> Item | None:
        return next((i for i in self._items.values() if i.sku == sku), None)

    def list(self, query: ItemQuery) -> list[Item]:
        def key(item: Item) -> tuple[object, str]:
            return (sort_value(item, query.sort), item.id)

        rows = sorted((i for i in self._items.values() if _matches(i, query)), key=key,
                      reverse=query.sort.descending)
        if query.after is not None:
            mark = (query.after.value, query.after.id)
            rows = [i for i in rows if (key(i) < mark if query.sort.descending else key(i) > mark)]
        return rows[: query.limit]

    def update(self, item: Item, expected_version: int) -> bool:
        with self._lock:
            current = self._items.get(item.id)
            if current is None or current.version != expected_version:
                return False
            if item.sku is not None:
                holder = self.get_by_sku(item.sku)
                if holder is not None and holder.id != item.id:
                    raise Conflict(f"sku {item.sku!r} is taken", code="sku_taken")
            self._items[item.id] = item
            return True

    def adjust_stock(self, item_id: str, delta: int, at: datetime) -> Item | None:
        with self._lock:
            item = self._items.get(item_id)
            if item is None or not 0 <= item.stock + delta <= MAX_STOCK:
                return None
            item = replace(item, stock=item.stock + delta, updated_at=at,
                           version=item.version + 1)
            self._items[item_id] = item
            return item

    def archive(self, item_id: str, at: datetime) -> None:
        item = self._items[item_id]
        self._items[item_id] = replace(item, archived=True, updated_at=at,
                                       version=item.version + 1)

    def count(self) -> int:
        return len(self._items)

    def low_stock(self, threshold: int, limit: int) -> list[Item]:
        rows = sorted((i for i in self._items.values()
                       if not i.archived and i.stock <= threshold),
                      key=lambda i: (i.stock, i.name.lower(), i.id))
        return rows[:limit]

    def image_in_use(self, key: str) -> bool:
        return any(item.image_key == key for item in self._items.values())

    def reserve_stock(self, quantities: dict[str, int], at: datetime) -> list[Shortage]:
        with self._lock:
            shortages = [Shortage(item_id, wanted, self._items[item_id].stock)
                         for item_id, wanted in sorted(quantities.items())
                         if self._items[item_id].stock < wanted]
            if not shortages:
                self._add_stock({k: -v for k, v in quantities.items()}, at)
            return shortages

    def release_stock(self, quantities: dict[str, int], at: datetime) -> None:
        with self._lock:
            self._add_stock(quantities, at)

    def _add_stock(self, deltas: dict[str, int], at: datetime) -> None:
        for item_id, delta in deltas.items():
            item = self._items[item_id]
            self._items[item_id] = replace(item, stock=min(item.stock + delta, MAX_STOCK),
                                           updated_at=at, version=item.version + 1)


class MemoryCategoryRepository:
    def __init__(self, items: MemoryItemRepository) -> None:
        self._categories: dict[str, Category] = {}
        self._items = items

    def add(self, category: Category) -> None:
        self._refuse_taken(category)
        self._categories[category.id] = category

    def _refuse_taken(self, category: Category) -> None:
        if self.name_taken(name_key(category.name), category.id):
            raise name_taken(category.name)

    def name_taken(self, key: str, except_id: str | None = None) -> bool:
        return any(name_key(c.name) == key and c.id != except_id
                   for c in self._categories.values())

    def hold(self, category_id: str) -> bool:
        return category_id in self._categories

    def get(self, category_id: str) -> Category | None:
        category = self._categories.get(category_id)
        return None if category is None else self._counted(category)

    def _counted(self, category: Category) -> Category:
        count = sum(1 for i in self._items.list(ItemQuery(category_id=category.id,
                                                          limit=10**9)))
        return replace(category, item_count=count)

    def list_with_counts(self) -> list[Category]:
        return [self._counted(c) for c in sorted(self._categories.values(),
                                                 key=lambda c: (c.position, c.id))]

    def next_position(self) -> int:
        return max((c.position for c in self._categories.values()), default=0) + 1

    def update(self, category: Category) -> None:
        self._refuse_taken(category)
        self._categories[category.id] = category

    def delete(self, category_id: str, at: datetime) -> int:
        del self._categories[category_id]
        members = [i for i in self._items.list(ItemQuery(category_id=category_id,
                                                         include_archived=True, limit=10**9))]
        for item in members:
            self._items.update(replace(item, category_id=None, updated_at=at,
                                       version=item.version + 1), item.version)
        return len(members)


class MemoryEndedSignIns:
    def __init__(self) -> None:
        self.ended: dict[str, datetime] = {}

    def end(self, sign_in_id: str, until: datetime, now: datetime) -> None:
        self.ended = {key: when for key, when in self.ended.items() if when > now}
        self.ended[sign_in_id] = until

    def has_ended(self, sign_in_id: str) -> bool:
        return sign_in_id in self.ended


class MemoryThrottle:
    """Attempt counters: key -> (count, start of its window)."""

    def __init__(self) -> None:
        self.counters: dict[str, tuple[int, datetime]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, limit: int, at: datetime, window: timedelta) -> datetime | None:
        with self._lock:
            count, started = self.counters.get(key, (0, at))
            if started <= at - window:
                count, started = 0, at
            if count >= limit:
                return started + window
            self.counters[key] = (count + 1, started)
            return None

    def give_back(self, key: str) -> None:
        with self._lock:
            found = self.counters.get(key)
            if found is None:
                return
            if found[0] <= 1:
                del self.counters[key]
            else:
                self.counters[key] = (found[0] - 1, found[1])

    def clear(self, key: str) -> None:
        with self._lock:
            self.counters.pop(key, None)

    def back_off(self, key: str, at: datetime, wait: Callable[[int], timedelta],
                 forget_after: timedelta) -> datetime | None:
        """Counters of this kind keep (count, last counted attempt)."""
        with self._lock:
            count, last = self.counters.get(key, (0, at))
            if last <= at - forget_after:
                count, last = 0, at
            delay = wait(count)
            if delay and at < last + delay:
                return last + delay
            self.counters[key] = (count + 1, max(last, at))
            return None

    def clear_prefixed(self, key: str, prefix: str) -> int:
        with self._lock:
            found = [k for k in self.counters if k == key or k.startswith(prefix)]
            for k in found:
                del self.counters[k]
            return len(found)

    def forget_before(self, before: datetime) -> int:
        with self._lock:
            old = [k for k, (_, started) in self.counters.items() if started < before]
            for k in old:
                del self.counters[k]
            return len(old)


class FakeOneTimePasswords:
    """Codes are the secret's name plus the minute: predictable, for unit tests only."""

    def __init__(self) -> None:
        self.issued = 0

    def new_secret(self) -> str:
        self.issued += 1
        return f"SECRET{self.issued}"

    def uri(self, secret: str, account_name: str, issuer: str) -> str:
        return f"otpauth://totp/{issuer}:{account_name}?secret={secret}&issuer={issuer}"

    def code(self, secret: str, at: datetime) -> str:
        return f"{abs(hash((secret, at.replace(second=0, microsecond=0)))) % 1_000_000:06d}"

    def matching_step(self, secret: str, code: str, at: datetime) -> int | None:
        """The minute, as the step."""
        return int(at.timestamp()) // 60 if code == self.code(secret, at) else None


class MemoryStoreSettingsRepository:
    def __init__(self) -> None:
        self.saved: StoreSettings | None = None

    def get(self) -> StoreSettings | None:
        return self.saved

    def save(self, settings: StoreSettings, at: datetime) -> None:
        self.saved = settings


class MemoryAccountRepository:
    def __init__(self) -> None:
        self._accounts: dict[str, Account] = {}

    def add(self, account: Account) -> None:
        if self.get_by_email(account.email) is not None:
            raise Conflict("an account with this email exists", code="email_taken")
        self._accounts[account.id] = account

    def get(self, account_id: str) -> Account | None:
        return self._accounts.get(account_id)

    def get_by_email(self, email: str) -> Account | None:
        return next((a for a in self._accounts.values() if a.email == email), None)

    def set_password_hash(self, account_id: str, password_hash: str) -> None:
        self._accounts[account_id] = replace(self._accounts[account_id],
                                             password_hash=password_hash)

    def save(self, account: Account) -> None:
        self._accounts[account.id] = account

    def set_payment_customer(self, account_id: str, customer_id: str) -> str:
        account = self._accounts[account_id]
        if account.payment_customer_id is None:
            account = replace(account, payment_customer_id=customer_id)
            self._accounts[account_id] = account
        return account.payment_customer_id or customer_id

    def use_totp_step(self, account_id: str, step: int) -> bool:
        account = self._accounts[account_id]
        if account.totp_last_step is not None and account.totp_last_step >= step:
            return False
        self._accounts[account_id] = replace(account, totp_last_step=step)
        return True

    def spend_recovery_code(self, account_id: str, digest: str) -> bool:
        account = self._accounts[account_id]
        if digest not in account.recovery_codes:
            return False
        self._accounts[account_id] = replace(account, recovery_codes=tuple(
            code for code in account.recovery_codes if code != digest))
        return True


class MemoryOrderRepository:
    def __init__(self) -> None:
        self._orders: dict[str, Order] = {}
        self._refunds: dict[str, Refund] = {}
        self._lock = threading.Lock()

    def add(self, order: Order) -> None:
        claimed = max(order.payment.refund_claimed, order.payment.refunded)  # as the SQL one
        self._orders[order.id] = replace(order, payment=replace(order.payment,
                                                                refund_claimed=claimed))

    def get(self, order_id: str) -> Order | None:
        return self._orders.get(order_id)

    def list(self, query: OrderQuery) -> list[Order]:
        rows = sorted((o for o in self._orders.values()
                       if (query.customer_id is None or o.customer_id == query.customer_id)
                       and (query.status is None or o.status is query.status)),
                      key=lambda o: (o.created_at, o.id), reverse=True)
        if query.after is not None:
            mark = (query.after.value, query.after.id)
            rows = [o for o in rows if (o.created_at, o.id) < mark]
        return rows[: query.limit]

    def transition(self, order_id: str, source: OrderStatus, target: OrderStatus,
                   at: datetime) -> bool:
        with self._lock:
            order = self._orders.get(order_id)
            if order is None or order.status is not source:
                return False
            self._orders[order_id] = replace(order, status=target, updated_at=at)
            return True

    def set_payment(self, order_id: str, payment: Payment, at: datetime) -> None:
        with self._lock:
            stored = self._orders[order_id]
            payment = replace(payment, refunded=stored.payment.refunded,
                              refund_claimed=stored.payment.refund_claimed)
            self._orders[order_id] = replace(stored, payment=payment, updated_at=at)

    def pending_holdings(self, customer_id: str) -> PendingHoldings:
        units: dict[str, int] = {}
        pending = [o for o in self._orders.values()
                   if o.customer_id == customer_id and o.status is OrderStatus.PENDING_PAYMENT]
        for order in pending:
            for line in order.lines:
                units[line.item_id] = units.get(line.item_id, 0) + line.quantity
        return PendingHoldings(len(pending), units)

    def pending_before(self, cutoff: datetime, limit: int) -> list[str]:
        return [o.id for o in sorted(self._orders.values(), key=lambda o: o.created_at)
                if o.status is OrderStatus.PENDING_PAYMENT and o.created_at < cutoff][:limit]

    def get_by_payment_intent(self, payment_intent_id: str) -> Order | None:
        return next((o for o in self._orders.values()
                     if o.payment.payment_intent_id == payment_intent_id), None)

    def owing_refund(self, limit: int) -> list[str]:
        return [o.id for o in sorted(self._orders.values(), key=lambda o: o.updated_at)
                if o.status is OrderStatus.CANCELLED
                and o.payment.captured > o.payment.refund_claimed][:limit]

    def claim_refund(self, refund: Refund, statuses: frozenset[OrderStatus]) -> bool:
        with self._lock:
            order = self._orders.get(refund.order_id)
            if order is None or order.status not in statuses or \
                    refund.amount > order.payment.refundable:
                return False
            self._set_refund_amounts(order, claimed=order.payment.refund_claimed + refund.amount)
            self._refunds[refund.id] = refund
            return True

    def _set_refund_amounts(self, order: Order, *, claimed: int | None = None,
                            refunded: int | None = None, at: datetime | None = None) -> None:
        """Under the lock. A claim leaves updated_at alone: the order shows no change."""
        payment = order.payment
        status = payment.status
        if refunded is not None and refunded >= payment.captured:
            status = PaymentStatus.REFUNDED
        self._orders[order.id] = replace(
            order, updated_at=at or order.updated_at,
            payment=replace(payment, status=status,
                            refund_claimed=payment.refund_claimed if claimed is None else claimed,
                            refunded=payment.refunded if refunded is None else refunded))

    def take_refund(self, refund_id: str, at: datetime,
                    stale_before: datetime | None) -> Refund | None:
        with self._lock:
            refund = self._refunds.get(refund_id)
            if refund is None or not _takeable(refund, stale_before):
                return None
            refund = replace(refund, state=RefundState.SENDING, attempted_at=at)
            self._refunds[refund_id] = refund
            return refund

    def release_refund(self, refund_id: str) -> None:
        with self._lock:
            refund = self._refunds.get(refund_id)
            if refund is not None and refund.state is RefundState.SENDING:
                self._refunds[refund_id] = replace(refund, state=RefundState.CLAIMED)

    def refund_sent(self, refund_id: str, at: datetime) -> int | None:
        with self._lock:
            refund = self._refunds.get(refund_id)
            if refund is None or refund.state is not RefundState.SENDING:
                return None
            self._refunds[refund_id] = replace(refund, state=RefundState.SENT, sent_at=at)
            order = self._orders[refund.order_id]
            self._set_refund_amounts(order, refunded=order.payment.refunded + refund.amount,
                                     at=at)
            return self._orders[refund.order_id].payment.refunded

    def refund_reported(self, order_id: str, refunded_total: int, at: datetime) -> int | None:
        with self._lock:
            order = self._orders.get(order_id)
            if order is None:
                return None
            payment = order.payment
            if refunded_total >= payment.captured:  # the whole capture is back
                if payment.refunded >= payment.captured:
                    return None
                for refund in self._refunds.values():
                    if refund.order_id == order_id and refund.state in UNSENT:
                        self._refunds[refund.id] = replace(refund, state=RefundState.VOID)
                self._set_refund_amounts(order, claimed=payment.captured,
                                         refunded=payment.captured, at=at)
            elif payment.refund_claimed < refunded_total:  # refunded at the provider
                self._set_refund_amounts(
                    order, claimed=refunded_total,
                    refunded=payment.refunded + refunded_total - payment.refund_claimed, at=at)
            else:
                return None
            return self._orders[order_id].payment.refunded

    def unsent_refunds(self, order_id: str) -> list[Refund]:
        return [r for r in self.refunds_of(order_id) if r.state is RefundState.CLAIMED]

    def refunds_to_retry(self, stale_before: datetime, limit: int) -> list[Refund]:
        return [r for r in self._oldest_first() if _takeable(r, stale_before)][:limit]

    def refunds_of(self, order_id: str) -> list[Refund]:
        return [r for r in self._oldest_first() if r.order_id == order_id]

    def _oldest_first(self) -> list[Refund]:
        return sorted(self._refunds.values(), key=lambda r: (r.created_at, r.id))

    def totals_by_period(self, boundaries: Sequence[datetime]) -> list[PeriodTotals]:
        totals: list[PeriodTotals] = []
        for start, end in itertools.pairwise(boundaries):
            placed = [o for o in self._orders.values() if start <= o.created_at < end]
            totals.append(PeriodTotals(
                orders=sum(o.status is not OrderStatus.CANCELLED for o in placed),
                revenue=sum(o.payment.captured - o.payment.refunded for o in placed)))
        return totals


UNSENT = frozenset({RefundState.SENDING, RefundState.CLAIMED})


def _takeable(refund: Refund, stale_before: datetime | None) -> bool:
    """CLAIMED, or with stale_before, SENDING since before then (its sender died)."""
    if refund.state is RefundState.CLAIMED:
        return True
    return stale_before is not None and refund.state is RefundState.SENDING and \
        refund.attempted_at is not None and refund.attempted_at < stale_before


class MemoryPaymentEventLog:
    def __init__(self) -> None:
        self.seen: dict[str, PaymentEvent] = {}
        self._lock = threading.Lock()

    def first_delivery(self, event: PaymentEvent, at: datetime) -> bool:
        with self._lock:
            if event.id in self.seen:
                return False
            self.seen[event.id] = event
            return True


class MemoryIdempotencyKeys:
    def __init__(self) -> None:
        self._keys: dict[tuple[str, str], tuple[ClaimedKey, datetime]] = {}
        self._lock = threading.Lock()

    def claim(self, account_id: str, key: str, fingerprint: str, order_id: str,
              at: datetime) -> ClaimedKey | None:
        with self._lock:
            held = self._keys.get((account_id, key))
            if held is not None:
                return held[0]
            self._keys[(account_id, key)] = (ClaimedKey(order_id, fingerprint), at)
            return None

    def forget_before(self, cutoff: datetime) -> int:
        with self._lock:
            old = [k for k, (_, at) in self._keys.items() if at < cutoff]
            for k in old:
                del self._keys[k]
            return len(old)

    def release(self, account_id: str, key: str, order_id: str) -> None:
        with self._lock:
            held = self._keys.get((account_id, key))
            if held is not None and held[0].order_id == order_id:
                del self._keys[(account_id, key)]


class MemoryUnitOfWork:
    """Counts the intermediate commits a service asks for; runs after-commit actions on the
    next commit (call commit() at the end of a test's unit of work)."""

    def __init__(self) -> None:
        self.commits = 0
        self.aborts = 0
        self._after: list[Callable[[], None]] = []

    def commit(self) -> None:
        self.commits += 1
        actions, self._after = self._after, []
        for action in actions:
            action()

    def after_commit(self, action: Callable[[], None]) -> None:
        self._after.append(action)

    def abort(self) -> None:
        """The fakes keep no transactions: nothing to roll back, and the after-commit
        actions of the aborted work are dropped."""
        self.aborts += 1
        self._after = []


class MemoryImageStore:
    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.pictures: dict[str, Picture] = {}
        self.variants: dict[tuple[str, int], Picture] = {}
        self.stored_at: dict[str, datetime] = {}
        self._now = clock or (lambda: datetime.now(UTC))

    def put(self, picture: Picture) -> str:
        key = f"{hashlib.sha256(picture.data).hexdigest()}.{picture.extension}"
        self.pictures[key] = picture
        self.stored_at[key] = self._now()
        return key

    def put_variant(self, key: str, width: int, picture: Picture) -> None:
        self.variants[key, width] = picture

    def get(self, key: str, width: int | None = None) -> Picture | None:
        if width is None:
            return self.pictures.get(key)
        return self.variants.get((key, width))

    def delete(self, key: str) -> None:
        self.pictures.pop(key, None)
        self.stored_at.pop(key, None)
        for variant in [v for v in self.variants if v[0] == key]:
            del self.variants[variant]

    def stored_before(self, moment: datetime) -> list[str]:
        return [key for key, at in self.stored_at.items() if at < moment]


# Stripe's test payment methods, so the same client code works against either gateway.
DECLINING_METHODS = frozenset({
    "pm_card_chargeDeclined", "pm_card_visa_chargeDeclined", "pm_card_chargeCustomerFail",
    "pm_card_chargeDeclinedInsufficientFunds"})
ACTION_METHODS = frozenset({"pm_card_authenticationRequired", "pm_card_threeDSecure2Required"})
UNREACHABLE_METHOD = "pm_simulate_provider_down"
STRIPE_METHOD_IDS = ("pm_", "card_", "src_")  # what Stripe's payment method ids start with


class MemoryPaymentGateway:
    """Payments simulated in memory: no money moves. Used by unit tests and development.

    A payment method decides the outcome the way Stripe's test methods do; the same
    idempotency key always answers the same object. `down = True` simulates an outage.
    """

    provider = "memory"

    def __init__(self) -> None:
        self.intents: dict[str, PaymentIntent] = {}
        self.customers: dict[str, str] = {}
        self.refunds: dict[str, tuple[str, Money]] = {}
        self.cancelled: set[str] = set()
        self.calls = 0
        self.down = False
        self._lock = threading.Lock()

    def _call(self) -> None:
        self.calls += 1
        if self.down:
            raise PaymentProviderUnavailable("the payment provider cannot be reached")

    def create_customer(self, *, account_id: str, email: str, idempotency_key: str) -> str:
        with self._lock:
            self._call()
            # random, not numbered: a restarted process (or a second one) must never hand
            # out an id that an account already carries
            return self.customers.setdefault(idempotency_key, f"cus_memory_{new_id()}")

    def create_ephemeral_key(self, customer_id: str, api_version: str) -> dict[str, Any]:
        with self._lock:
            self._call()
            return {"id": f"ephkey_memory_{customer_id}", "object": "ephemeral_key",
                    "secret": f"ek_test_memory_{customer_id}", "api_version": api_version,
                    "associated_objects": [{"type": "customer", "id": customer_id}]}

    def create_intent(self, *, order_id: str, amount: Money, customer_id: str | None,
                      payment_method: str | None, idempotency_key: str) -> PaymentIntent:
        with self._lock:
            self._call()
            if payment_method == UNREACHABLE_METHOD:
                raise PaymentProviderUnavailable("the payment provider cannot be reached")
            if payment_method is not None and not payment_method.startswith(STRIPE_METHOD_IDS):
                raise PaymentMethodRefused("the payment method is not valid", details={
                    "payment_method": ["the payment provider does not know this payment method"]})
            if idempotency_key in self.intents:
                return self.intents[idempotency_key]
            status, received = PaymentStatus.REQUIRES_PAYMENT_METHOD, 0
            if payment_method in DECLINING_METHODS:
                status = PaymentStatus.DECLINED
            elif payment_method in ACTION_METHODS:
                status = PaymentStatus.REQUIRES_ACTION
            elif payment_method is not None:
                status, received = PaymentStatus.SUCCEEDED, amount.amount
            number = new_id()
            intent = PaymentIntent(id=f"pi_memory_{number}", status=status,
                                   client_secret=f"pi_memory_{number}_secret_{order_id}",
                                   amount=amount.amount, currency=amount.currency,
                                   amount_received=received)
            self.intents[idempotency_key] = intent
            return intent

    def _find(self, payment_intent_id: str) -> tuple[str, PaymentIntent]:
        for key, intent in self.intents.items():
            if intent.id == payment_intent_id:
                return key, intent
        # Stripe answers 404, which the Stripe adapter reports the same way
        raise PaymentProviderUnavailable(f"the provider knows no payment {payment_intent_id}")

    def retrieve_intent(self, payment_intent_id: str) -> PaymentIntent:
        with self._lock:
            self._call()
            return self._find(payment_intent_id)[1]

    def settle(self, payment_intent_id: str, status: PaymentStatus) -> PaymentIntent:
        """What the customer's app and the provider did meanwhile (tests and demos)."""
        with self._lock:
            key, intent = self._find(payment_intent_id)
            received = intent.amount if status is PaymentStatus.SUCCEEDED else 0
            self.intents[key] = replace(intent, status=status, amount_received=received)
            return self.intents[key]

    def cancel_intent(self, payment_intent_id: str) -> None:
        with self._lock:
            self._call()
            key, intent = self._find(payment_intent_id)
            if intent.status is not PaymentStatus.SUCCEEDED:
                self.intents[key] = replace(intent, status=PaymentStatus.CANCELED)
            self.cancelled.add(payment_intent_id)

    def refund(self, payment_intent_id: str, amount: Money, idempotency_key: str) -> None:
        with self._lock:
            self._call()
            self.refunds.setdefault(idempotency_key, (payment_intent_id, amount))

"""What the domain needs from the outside world, as Protocols. Adapters implement them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from minimart.domain.accounts import Account
    from minimart.domain.audit import AuditEvent, AuditQuery
    from minimart.domain.catalog import Item, ItemQuery
    from minimart.domain.categories import Category
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
        Shortage,
    )
    from minimart.domain.payments import PaymentEvent, PaymentIntent
    from minimart.domain.store import StoreSettings


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware in UTC."""
        ...


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool: ...

    def needs_rehash(self, password_hash: str) -> bool: ...

    def dummy_hash(self) -> str:
        """A valid hash of nothing in particular, to spend equal time on unknown accounts."""
        ...


class AuditLog(Protocol):
    def record(self, event: AuditEvent) -> None: ...


class AuditTrail(Protocol):
    def list(self, query: AuditQuery) -> Sequence[AuditEvent]:
        """Newest first (at, id), filtered, up to query.limit, after query.after."""
        ...


class ItemRepository(Protocol):
    def add(self, item: Item) -> None:
        """Store a new item; a taken sku raises Conflict(code='sku_taken')."""
        ...

    def get(self, item_id: str) -> Item | None: ...

    def get_by_sku(self, sku: str) -> Item | None: ...

    def list(self, query: ItemQuery) -> Sequence[Item]:
        """Up to query.limit items matching the query, in its order, after query.after."""
        ...

    def update(self, item: Item, expected_version: int) -> bool:
        """Write the item's fields if its stored version is still expected_version."""
        ...

    def adjust_stock(self, item_id: str, delta: int, at: datetime) -> Item | None:
        """Add delta to stock in one conditional update; None if it would go below zero."""
        ...

    def archive(self, item_id: str, at: datetime) -> None: ...

    def image_in_use(self, key: str) -> bool:
        """Whether any item still shows this picture (identical uploads share a key)."""
        ...

    def reserve_stock(self, quantities: dict[str, int], at: datetime) -> list[Shortage]:
        """Take every quantity from stock, all or nothing, by conditional updates in item-id
        order (no deadlocks). Returns the short lines, having taken nothing, or []."""
        ...

    def release_stock(self, quantities: dict[str, int], at: datetime) -> None:
        """Put quantities back into stock (a cancelled or refunded order)."""
        ...

    def count(self) -> int: ...

    def low_stock(self, threshold: int, limit: int) -> Sequence[Item]:
        """Up to limit items on sale (not archived) with stock <= threshold, lowest stock
        first, then by name."""
        ...


class CategoryRepository(Protocol):
    def add(self, category: Category) -> None: ...

    def get(self, category_id: str) -> Category | None: ...

    def list_with_counts(self) -> list[Category]:
        """In position order, each with its count of items that are not archived."""
        ...

    def next_position(self) -> int: ...

    def hold(self, category_id: str) -> bool:
        """Whether the category exists, kept so until the transaction ends: a delete of it
        waits, then finds the items moved into it meanwhile (no dangling reference)."""
        ...

    def name_taken(self, key: str, except_id: str | None = None) -> bool:
        """Whether another category's name has this name_key."""
        ...

    def update(self, category: Category) -> None:
        """Store the changes; a name another category holds raises Conflict('name_taken')."""
        ...

    def delete(self, category_id: str, at: datetime) -> int:
        """Delete the category and take its items out of it; returns how many there were."""
        ...


class StoreSettingsRepository(Protocol):
    def get(self) -> StoreSettings | None: ...

    def save(self, settings: StoreSettings, at: datetime) -> None: ...


class AccountRepository(Protocol):
    def add(self, account: Account) -> None:
        """Store a new account; a taken email raises Conflict(code='email_taken')."""
        ...

    def get(self, account_id: str) -> Account | None: ...

    def get_by_email(self, email: str) -> Account | None: ...

    def set_password_hash(self, account_id: str, password_hash: str) -> None: ...

    def save(self, account: Account) -> None:
        """Write the account's changeable fields (password, disabled, tokens, second factor)."""
        ...

    def set_payment_customer(self, account_id: str, customer_id: str) -> str:
        """Store the provider's customer id unless one is stored already; return the stored."""
        ...

    def use_totp_step(self, account_id: str, step: int) -> bool:
        """Record `step` as the newest accepted TOTP step if it is newer than the stored
        one; False when it is not (a replayed code). Atomic: of two sign-ins racing with
        one code, one wins."""
        ...

    def spend_recovery_code(self, account_id: str, digest: str) -> bool:
        """Remove one unused recovery code; False when it is not (or no longer) there.
        Atomic: of two sign-ins racing with one code, one wins."""
        ...


class EndedSignIns(Protocol):
    """Browser sign-ins ended by signing out, kept where every process sees them until the
    session cookie they were in would have expired anyway."""

    def end(self, sign_in_id: str, until: datetime, now: datetime) -> None:
        """Record the sign-in as ended until `until`; drop records whose time has passed."""
        ...

    def has_ended(self, sign_in_id: str) -> bool: ...


class Throttle(Protocol):
    """Attempt counters per key (sign-ins per account or address, registrations per
    address) in fixed windows, kept where every process sees them."""

    def take(self, key: str, limit: int, at: datetime, window: timedelta) -> datetime | None:
        """Count one attempt if its window holds fewer than `limit`, starting a new window
        when the last one has passed; None when counted, else when the full window ends.
        Atomic: a racing take of the same key waits until this one's transaction ends, so
        of any number of racing attempts at most `limit` are counted."""
        ...

    def give_back(self, key: str) -> None:
        """Uncount one attempt that turned out harmless; a count of none is forgotten."""
        ...

    def clear(self, key: str) -> None: ...

    def back_off(self, key: str, at: datetime, wait: Callable[[int], timedelta],
                 forget_after: timedelta) -> datetime | None:
        """Count one attempt unless `wait(count)` has not yet passed since the key's last
        counted attempt; None when counted, else when the wait ends. A key quiet for
        `forget_after` starts again from nothing. Atomic like `take`."""
        ...

    def clear_prefixed(self, key: str, prefix: str) -> int:
        """Forget `key` and every key starting with `prefix`; how many there were."""
        ...

    def forget_before(self, before: datetime) -> int:
        """Drop the counters last started or counted before `before` (they count for
        nothing any more); how many."""
        ...


class OneTimePasswords(Protocol):
    """Time-based one-time passwords (RFC 6238) for two-factor sign-in."""

    def new_secret(self) -> str: ...

    def uri(self, secret: str, account_name: str, issuer: str) -> str:
        """The otpauth:// URI an authenticator app reads (usually from a QR code)."""
        ...

    def matching_step(self, secret: str, code: str, at: datetime) -> int | None:
        """The time step whose code this is (one step of clock drift allowed), or None.
        Steps grow with time, so a sign-in can refuse a step it has already accepted."""
        ...


class OrderRepository(Protocol):
    def add(self, order: Order) -> None: ...

    def get(self, order_id: str) -> Order | None: ...

    def list(self, query: OrderQuery) -> Sequence[Order]:
        """Newest first, up to query.limit, after query.after (created_at, id)."""
        ...

    def transition(self, order_id: str, source: OrderStatus, target: OrderStatus,
                   at: datetime) -> bool:
        """Move the order from source to target only if it is still in source; the one
        guard that makes racing actors take effect once."""
        ...

    def set_payment(self, order_id: str, payment: Payment, at: datetime) -> None:
        """Write the payment's provider, status, intent, client secret and capture. The
        refund amounts (`refunded`, `refund_claimed`) are left alone: only the refund
        methods below change them, by guarded updates that racing writers cannot undo."""
        ...

    def pending_holdings(self, customer_id: str) -> PendingHoldings:
        """The customer's pending orders and the units they hold per item. Locks the
        customer's account row until the transaction ends, so one customer's racing orders
        are counted one after another."""
        ...

    def pending_before(self, cutoff: datetime, limit: int) -> list[str]:
        """Ids of orders still pending payment that were placed before cutoff."""
        ...

    def get_by_payment_intent(self, payment_intent_id: str) -> Order | None: ...

    def owing_refund(self, limit: int) -> list[str]:
        """Ids of cancelled orders with captured money no refund has claimed yet."""
        ...

    # Refunds: claimed before the provider is asked, sent once, finished or retried.
    def claim_refund(self, refund: Refund, statuses: frozenset[OrderStatus]) -> bool:
        """Add refund.amount to the order's refund_claimed and store the refund, if the
        order is in one of `statuses` and its claims stay within the capture; else False
        and nothing is written. Atomic: of racing claims, those that fit win, in any order,
        so the claims never add up past the capture."""
        ...

    def take_refund(self, refund_id: str, at: datetime,
                    stale_before: datetime | None) -> Refund | None:
        """Take a claimed refund to send it (SENDING, attempted at `at`): one whose last
        call failed, or with stale_before, one taken before then and never finished. None
        when it is not to be taken, so of racing takers one gets it."""
        ...

    def release_refund(self, refund_id: str) -> None:
        """Its call failed: a SENDING refund goes back to CLAIMED, for a later sender."""
        ...

    def refund_sent(self, refund_id: str, at: datetime) -> int | None:
        """The provider accepted it: a SENDING refund becomes SENT and its amount is added
        to the order's refunded (its payment status becomes refunded with the whole
        capture). The order's new refunded, or None when it was not SENDING (no effect)."""
        ...

    def refund_reported(self, order_id: str, refunded_total: int, at: datetime) -> int | None:
        """The provider says it has returned `refunded_total` (at most the capture) of the
        payment in all. What is beyond the claims was refunded at the provider: it counts
        as claimed and refunded. The whole capture sets both to the capture, the payment
        status to refunded, and voids the claims still unsent (nothing more can be sent).
        The order's new refunded, or None when the report tells nothing new (an older or
        repeated one)."""
        ...

    def unsent_refunds(self, order_id: str) -> list[Refund]:
        """The order's CLAIMED refunds (their last call failed), oldest first."""
        ...

    def refunds_to_retry(self, stale_before: datetime, limit: int) -> list[Refund]:
        """Refunds of any order that are CLAIMED, or SENDING since before stale_before (the
        sender died), oldest first."""
        ...

    def refunds_of(self, order_id: str) -> list[Refund]:
        """Every refund of the order, oldest first."""
        ...

    def totals_by_period(self, boundaries: Sequence[datetime]) -> list[PeriodTotals]:
        """For each period [boundaries[i], boundaries[i + 1]) by created_at: the orders
        placed in it that were not cancelled, and the money kept from all of them (captured
        minus refunded). One entry per period, in order; boundaries are increasing."""
        ...


class IdempotencyKeys(Protocol):
    def claim(self, account_id: str, key: str, fingerprint: str, order_id: str,
              at: datetime) -> ClaimedKey | None:
        """Take the key for order_id, or return who has it. A concurrent claim of the same
        key waits for the first to commit or roll back, so only one order is ever made."""
        ...

    def forget_before(self, cutoff: datetime) -> int: ...

    def release(self, account_id: str, key: str, order_id: str) -> None:
        """Free the key if it still names order_id (its order was undone), so a retry
        with the same key places a new order."""
        ...


class PaymentGateway(Protocol):
    """A card payment provider. Every call that creates something carries an idempotency
    key, so a retried request never makes a second one. Any failure to reach the provider
    raises PaymentProviderUnavailable."""

    provider: str

    def create_customer(self, *, account_id: str, email: str, idempotency_key: str) -> str: ...

    def create_ephemeral_key(self, customer_id: str, api_version: str) -> dict[str, Any]:
        """The provider's ephemeral key object, for the mobile SDKs."""
        ...

    def create_intent(self, *, order_id: str, amount: Money, customer_id: str | None,
                      payment_method: str | None, idempotency_key: str) -> PaymentIntent:
        """Create (and with a payment method, confirm at once) a payment for the order."""
        ...

    def retrieve_intent(self, payment_intent_id: str) -> PaymentIntent: ...

    def cancel_intent(self, payment_intent_id: str) -> None: ...

    def refund(self, payment_intent_id: str, amount: Money, idempotency_key: str) -> None: ...


class WebhookVerifier(Protocol):
    def verify(self, payload: bytes, signature: str | None) -> PaymentEvent:
        """The event, if the signature proves the provider sent this payload; else raises
        InvalidWebhook."""
        ...


class PaymentEventLog(Protocol):
    def first_delivery(self, event: PaymentEvent, at: datetime) -> bool:
        """Record the event id; False if it was recorded before. A concurrent delivery of
        the same event waits for the first to commit, so an event takes effect once."""
        ...


class UnitOfWork(Protocol):
    def commit(self) -> None:
        """Commit what is done so far and begin afresh: a deliberate intermediate commit
        before calling a payment provider."""
        ...

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run action once the current transaction has committed (never if it aborts)."""
        ...

    def abort(self) -> None:
        """Roll back what is done since the last commit and begin afresh: after a failure,
        before the service records what it does about it."""
        ...


class ImageProcessor(Protocol):
    def normalize(self, data: bytes) -> Picture:
        """Decode, shrink to the largest edge and re-encode an upload, judged by its
        content; raises UnsupportedImage, DamagedImage or ImageTooLarge."""
        ...

    def variant(self, picture: Picture, width: int) -> Picture:
        """A narrower copy of a normalized picture (itself when it is no wider)."""
        ...


class ImageStore(Protocol):
    """Where pictures live: a local directory now, an object store later."""

    def put(self, picture: Picture) -> str:
        """Store the picture and return its key (the same content gives the same key);
        storing it again counts as new for stored_before."""
        ...

    def put_variant(self, key: str, width: int, picture: Picture) -> None: ...

    def get(self, key: str, width: int | None = None) -> Picture | None: ...

    def delete(self, key: str) -> None:
        """The picture and its variants."""
        ...

    def stored_before(self, moment: datetime) -> Iterable[str]:
        """Keys of the pictures last stored before `moment`."""
        ...

"""Refunds on the in-memory fakes: partial refunds, refunds made at the provider, and the
claim that makes each refund ask the provider exactly once.

API.md (Payments) is the specification: `charge.refunded` records the amount returned; a
part leaves status and stock alone, the whole capture marks the order refunded (stock
returns unless it was fulfilled); admins may refund part; the sum of refunds never exceeds
the capture; each event takes effect once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from minimart.domain.errors import InvalidState, ValidationFailed
from minimart.domain.money import Money
from minimart.domain.orders import Order, RefundState
from minimart.domain.payments import PaymentProviderUnavailable, PaymentStatus
from tests.unit.test_payment_service import (
    ADMIN,
    CURRENCY,
    CUSTOMER,
    FULFILLED,
    PAID,
    REFUND,
    REFUNDED,
    STAFF,
    SUCCEEDED,
    Reconciliation,
    Shop,
)


@pytest.fixture
def shop() -> Shop:
    return Shop()


@pytest.fixture
def tea(shop: Shop) -> str:
    return shop.item(stock=10, price=250)


@pytest.fixture
def paid(shop: Shop, tea: str) -> Order:
    """4 teas: 1000 + 10% tax = 1100 captured; 6 left in stock."""
    order = shop.in_state(PAID, tea, 4)
    assert order.payment.captured == 1100
    return order


def refund(shop: Shop, order: Order, amount: int | None = None) -> Order:
    return shop.order_service.refund(order.id, ADMIN, amount)


def provider_refunds(shop: Shop) -> list[int]:
    """The amounts the provider paid back, one per distinct refund (idempotency key)."""
    return [money.amount for _, money in shop.gateway.refunds.values()]


def on_refund_call(shop: Shop, action: Callable[[], Any]) -> list[Any]:
    """Run action inside the next provider refund call (what another request does while
    this one waits on the network); returns what it raised or returned."""
    real, seen = shop.gateway.refund, []

    def refund_and_meanwhile(*args: Any, **kwargs: Any) -> None:
        shop.gateway.refund = real
        try:
            seen.append(action())
        except Exception as error:
            seen.append(error)
        real(*args, **kwargs)

    shop.gateway.refund = refund_and_meanwhile
    return seen


# --- partial refunds by an admin -----------------------------------------------------------

def test_a_partial_refund_returns_that_amount_and_leaves_status_and_stock(shop, tea, paid):
    stored = refund(shop, paid, 400)

    assert stored.status is PAID
    assert (stored.payment.captured, stored.payment.refunded) == (1100, 400)
    assert stored.payment.status is PaymentStatus.SUCCEEDED
    assert shop.stock(tea) == 6
    [claim] = shop.orders.refunds_of(paid.id)
    assert (claim.amount, claim.state) == (400, RefundState.SENT)
    assert shop.gateway.refunds == {
        f"order-{paid.id}-refund-{claim.id}": (paid.payment.payment_intent_id,
                                               Money(400, CURRENCY))}
    assert shop.actions(paid.id)[-1] == "order.partially_refunded"


def test_partial_refunds_adding_up_to_the_capture_refund_the_order_once(shop, tea, paid):
    refund(shop, paid, 400)
    refund(shop, paid, 300)
    stored = refund(shop, paid, 400)

    assert stored.status is REFUNDED
    assert stored.payment.refunded == 1100
    assert stored.payment.status is PaymentStatus.REFUNDED
    assert shop.stock(tea) == 10
    assert provider_refunds(shop) == [400, 300, 400]  # three distinct keys, three refunds
    assert shop.actions(paid.id)[-3:] == ["order.partially_refunded",
                                          "order.partially_refunded", "order.refunded"]
    last = [e for e in shop.audit.events if e.action == "order.refunded"][-1]
    assert last.changes["status"] == ["paid", "refunded"]
    assert last.changes["refunded"] == [700, 1100]


def test_without_an_amount_the_rest_is_refunded(shop, tea, paid):
    refund(shop, paid, 250)

    stored = refund(shop, paid)

    assert stored.status is REFUNDED
    assert provider_refunds(shop) == [250, 850]
    assert shop.stock(tea) == 10


def test_cancelling_a_partly_refunded_paid_order_refunds_the_rest(shop, tea, paid):
    refund(shop, paid, 100)

    cancelled = shop.order_service.cancel(paid.id, CUSTOMER)

    assert (cancelled.status, cancelled.payment.refunded) == (REFUNDED, 1100)
    assert provider_refunds(shop) == [100, 1000]


def test_a_fulfilled_order_refunded_in_parts_keeps_its_stock_gone(shop, tea):
    order = shop.in_state(FULFILLED, tea, 4)

    assert refund(shop, order, 600).status is FULFILLED
    assert refund(shop, order, 500).status is REFUNDED
    assert shop.stock(tea) == 6


@pytest.mark.parametrize("amount", [0, -5, 1101])
def test_an_amount_outside_one_to_what_is_left_is_refused_and_changes_nothing(
        shop, tea, paid, amount):
    before = shop.order(paid.id)

    with pytest.raises(ValidationFailed) as refused:
        refund(shop, paid, amount)

    assert refused.value.details == {"amount": ["must be 1 to 1100"]}
    assert shop.order(paid.id) == before
    assert shop.orders.refunds_of(paid.id) == []
    assert shop.gateway.calls_of("refund") == []


def test_what_is_left_shrinks_with_each_refund(shop, tea, paid):
    refund(shop, paid, 1000)

    with pytest.raises(ValidationFailed) as refused:
        refund(shop, paid, 101)

    assert refused.value.details == {"amount": ["must be 1 to 100"]}
    assert refund(shop, paid, 100).status is REFUNDED
    with pytest.raises(InvalidState):
        refund(shop, paid, 1)


# --- racing refunds --------------------------------------------------------------------------

def test_a_refund_of_the_rest_during_another_claims_nothing_and_asks_the_provider_nothing(
        shop, tea, paid):
    meanwhile = on_refund_call(shop, lambda: refund(shop, paid))

    stored = refund(shop, paid)

    [second] = meanwhile
    assert isinstance(second, InvalidState)  # 409: the first one is under way
    assert stored.status is REFUNDED
    assert provider_refunds(shop) == [1100]
    assert len(shop.gateway.calls_of("refund")) == 1
    assert shop.stock(tea) == 10


def test_a_partial_refund_during_another_may_take_only_what_is_left(shop, tea, paid):
    meanwhile = on_refund_call(shop, lambda: refund(shop, paid, 200))

    refund(shop, paid, 1000)

    [second] = meanwhile
    assert isinstance(second, ValidationFailed)
    assert second.details == {"amount": ["must be 1 to 100"]}
    assert provider_refunds(shop) == [1000]


def test_a_cancel_during_an_admins_refund_pays_nothing_twice(shop, tea, paid):
    meanwhile = on_refund_call(shop, lambda: shop.order_service.cancel(paid.id, CUSTOMER))

    refund(shop, paid)

    assert isinstance(meanwhile[0], InvalidState)
    assert provider_refunds(shop) == [1100]
    assert shop.stock(tea) == 10


def test_an_order_fulfilled_just_before_its_refund_completes_keeps_its_stock_gone(
        shop, tea, paid):
    real, fulfilled = shop.orders.transition, []

    def fulfil_first(order_id: str, source: Any, target: Any, at: Any) -> bool:
        if target is REFUNDED and not fulfilled:  # staff hand it over at this very moment
            fulfilled.append(shop.order_service.fulfil(order_id, STAFF))
        return real(order_id, source, target, at)

    shop.orders.transition = fulfil_first
    stored = refund(shop, paid)

    assert fulfilled[0].status is FULFILLED
    assert stored.status is REFUNDED
    assert shop.stock(tea) == 6  # handed over: it does not come back
    last = [e for e in shop.audit.events if e.action == "order.refunded"][-1]
    assert last.changes["status"] == ["fulfilled", "refunded"]


def before_the_next_claim(shop: Shop, action: Callable[[], Any]) -> None:
    """Run action between the next claim's read of the order and its guarded write."""
    real = shop.orders.claim_refund

    def claim_after(*args: Any) -> bool:
        shop.orders.claim_refund = real
        action()
        return real(*args)

    shop.orders.claim_refund = claim_after


def test_a_claim_beaten_between_its_read_and_its_write_takes_only_what_is_left(
        shop, tea, paid):
    before_the_next_claim(shop, lambda: refund(shop, paid, 1000))

    with pytest.raises(ValidationFailed) as refused:
        refund(shop, paid, 200)

    assert refused.value.details == {"amount": ["must be 1 to 100"]}
    assert provider_refunds(shop) == [1000]
    assert shop.order(paid.id).payment.refund_claimed == 1000


def test_a_claim_of_the_rest_beaten_by_a_part_claims_the_new_rest(shop, tea, paid):
    before_the_next_claim(shop, lambda: refund(shop, paid, 300))

    stored = refund(shop, paid)

    assert (stored.status, stored.payment.refunded) == (REFUNDED, 1100)
    assert provider_refunds(shop) == [300, 800]


def test_the_claim_is_committed_before_the_provider_is_asked(shop, tea, paid):
    commits = shop.uow.commits

    refund(shop, paid, 300)

    assert shop.gateway.calls_of("refund") == [commits + 1]
    [claim] = shop.orders.refunds_of(paid.id)
    assert claim.created_at == shop.clock.now()


# --- the provider failing --------------------------------------------------------------------

def test_a_refund_the_provider_cannot_take_stays_claimed_and_reconcile_sends_it_once(
        shop, tea, paid):
    shop.gateway.down = True
    with pytest.raises(PaymentProviderUnavailable):
        refund(shop, paid, 300)

    stored = shop.order(paid.id)
    assert (stored.status, stored.payment.refunded, stored.payment.refund_claimed) == (
        PAID, 0, 300)
    [claim] = shop.orders.refunds_of(paid.id)
    assert claim.state is RefundState.CLAIMED
    with pytest.raises(ValidationFailed):  # the claimed 300 is spoken for
        refund(shop, paid, 801)

    shop.gateway.down = False
    assert shop.reconcile() == Reconciliation(refunds_finished=1)

    stored = shop.order(paid.id)
    assert (stored.status, stored.payment.refunded) == (PAID, 300)
    assert list(shop.gateway.refunds) == [claim.idempotency_key]
    assert shop.reconcile() == Reconciliation()
    assert len(shop.gateway.calls_of("refund")) == 2  # the failed call and the resend


def test_a_refund_whose_answer_was_lost_is_resent_with_its_key_and_paid_once(shop, tea, paid):
    real = shop.gateway.refund

    def acted_then_lost(*args: Any, **kwargs: Any) -> None:
        real(*args, **kwargs)
        raise PaymentProviderUnavailable("the answer never arrived")

    shop.gateway.refund = acted_then_lost
    with pytest.raises(PaymentProviderUnavailable):
        refund(shop, paid, 300)
    shop.gateway.refund = real

    shop.reconcile()

    assert provider_refunds(shop) == [300]  # the same key twice: one refund
    assert shop.order(paid.id).payment.refunded == 300


def test_a_refund_of_the_rest_repeated_after_a_503_sends_the_same_refund(shop, tea, paid):
    shop.gateway.down = True
    with pytest.raises(PaymentProviderUnavailable):
        shop.order_service.cancel(paid.id, CUSTOMER)
    shop.gateway.down = False

    stored = shop.order_service.cancel(paid.id, CUSTOMER)

    assert stored.status is REFUNDED
    [claim] = shop.orders.refunds_of(paid.id)
    assert list(shop.gateway.refunds) == [claim.idempotency_key]
    assert shop.stock(tea) == 10


def test_a_claim_whose_sender_died_is_resent_by_reconcile_only_once_it_is_stale(
        shop, tea, paid):
    real = shop.gateway.refund

    def died(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the process was killed")

    shop.gateway.refund = died
    with pytest.raises(RuntimeError):
        refund(shop, paid, 300)
    shop.gateway.refund = real
    [claim] = shop.orders.refunds_of(paid.id)
    assert claim.state is RefundState.SENDING

    assert shop.reconcile() == Reconciliation()  # it may still be on its way
    shop.clock.advance(minutes=6)
    assert shop.reconcile() == Reconciliation(refunds_finished=1)

    assert list(shop.gateway.refunds) == [claim.idempotency_key]
    assert shop.order(paid.id).payment.refunded == 300


# --- charge.refunded -------------------------------------------------------------------------

def test_a_partial_refund_at_the_provider_is_recorded_and_leaves_status_and_stock(
        shop, tea, paid):
    shop.deliver(shop.event(REFUND, paid, amount=400))

    stored = shop.order(paid.id)
    assert stored.status is PAID
    assert (stored.payment.refunded, stored.payment.refund_claimed) == (400, 400)
    assert stored.payment.status is PaymentStatus.SUCCEEDED
    assert shop.stock(tea) == 6
    assert shop.gateway.calls_of("refund") == []
    assert shop.actions(paid.id)[-1] == "order.partially_refunded"


def test_the_rest_can_be_refunded_after_a_partial_refund_at_the_provider(shop, tea, paid):
    shop.deliver(shop.event(REFUND, paid, amount=400))

    stored = refund(shop, paid)

    assert (stored.status, stored.payment.refunded) == (REFUNDED, 1100)
    assert provider_refunds(shop) == [700]
    assert shop.stock(tea) == 10


def test_refund_events_add_up_to_the_whole_capture_and_refund_the_order_once(shop, tea, paid):
    shop.deliver(shop.event(REFUND, paid, amount=400))
    shop.deliver(shop.event(REFUND, paid, amount=900))
    shop.deliver(shop.event(REFUND, paid, amount=1100))

    stored = shop.order(paid.id)
    assert (stored.status, stored.payment.refunded) == (REFUNDED, 1100)
    assert shop.stock(tea) == 10
    assert shop.actions(paid.id)[-3:] == ["order.partially_refunded",
                                          "order.partially_refunded", "order.refunded"]


def test_an_older_refund_event_arriving_late_changes_nothing(shop, tea, paid):
    shop.deliver(shop.event(REFUND, paid, amount=900))
    after = shop.order(paid.id)

    shop.deliver(shop.event(REFUND, paid, amount=400))

    assert shop.order(paid.id) == after
    assert shop.actions(paid.id).count("order.partially_refunded") == 1


def test_one_partial_refund_event_delivered_twice_takes_effect_once(shop, tea, paid):
    event = shop.event(REFUND, paid, amount=400, event_id="evt_part")
    shop.deliver(event)
    shop.deliver(event)

    assert shop.order(paid.id).payment.refunded == 400
    assert shop.actions(paid.id).count("order.partially_refunded") == 1


def test_the_event_of_our_own_partial_refund_counts_nothing_twice(shop, tea, paid):
    refund(shop, paid, 300)

    shop.deliver(shop.event(REFUND, paid, amount=300))

    stored = shop.order(paid.id)
    assert (stored.payment.refunded, stored.payment.refund_claimed) == (300, 300)
    assert shop.actions(paid.id).count("order.partially_refunded") == 1


def test_the_event_of_our_refund_arriving_before_we_record_it_counts_nothing_twice(
        shop, tea, paid):
    real = shop.gateway.refund

    def refund_then_event(*args: Any, **kwargs: Any) -> None:
        real(*args, **kwargs)  # the provider refunds, and its event beats our write
        shop.gateway.refund = real
        shop.deliver(shop.event(REFUND, paid, amount=300))

    shop.gateway.refund = refund_then_event
    refund(shop, paid, 300)

    stored = shop.order(paid.id)
    assert (stored.status, stored.payment.refunded, stored.payment.refund_claimed) == (
        PAID, 300, 300)
    assert refund(shop, paid).payment.refunded == 1100
    assert provider_refunds(shop) == [300, 800]


def test_a_refund_at_the_provider_beside_ours_is_counted_once_each(shop, tea, paid):
    refund(shop, paid, 300)
    shop.deliver(shop.event(REFUND, paid, amount=300 + 200))  # 200 from the dashboard

    stored = shop.order(paid.id)
    assert (stored.payment.refunded, stored.payment.refundable) == (500, 600)
    with pytest.raises(ValidationFailed):
        refund(shop, paid, 601)


def test_the_whole_capture_returned_at_the_provider_voids_a_claim_left_unsent(shop, tea, paid):
    shop.gateway.down = True
    with pytest.raises(PaymentProviderUnavailable):
        refund(shop, paid, 300)
    shop.gateway.down = False

    shop.deliver(shop.event(REFUND, paid, amount=1100))

    stored = shop.order(paid.id)
    assert (stored.status, stored.payment.refunded) == (REFUNDED, 1100)
    assert [r.state for r in shop.orders.refunds_of(paid.id)] == [RefundState.VOID]
    assert shop.reconcile() == Reconciliation()
    assert shop.gateway.refunds == {}
    assert shop.stock(tea) == 10


def test_money_for_a_cancelled_order_is_returned_under_a_refund_of_its_own(shop, tea):
    order = shop.place(tea, 2)
    shop.order_service.cancel(order.id, CUSTOMER)

    shop.deliver(shop.event(SUCCEEDED, order))

    [claim] = shop.orders.refunds_of(order.id)
    assert (claim.amount, claim.state) == (order.totals.total.amount, RefundState.SENT)
    assert list(shop.gateway.refunds) == [claim.idempotency_key]

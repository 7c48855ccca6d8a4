"""PaymentService: mobile ephemeral keys, provider webhooks and reconciliation.

Payment success can arrive by two roads, the synchronous confirm and the webhook; both end
in OrderService's guarded transitions, so they can race without a second effect.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial
from typing import Any

from minimart.domain.actors import Actor, Permission
from minimart.domain.orders import Order, OrderStatus
from minimart.domain.payments import (
    PaymentEvent,
    PaymentEventKind,
    PaymentProviderUnavailable,
    PaymentStatus,
)
from minimart.domain.ports.clock import Clock
from minimart.domain.ports.payments import PaymentGateway, WebhookVerifier
from minimart.domain.ports.unit_of_work import UnitOfWork
from minimart.domain.services.orders import OrderService
from minimart.domain.services.payment_customers import PaymentCustomers

log = logging.getLogger(__name__)


@dataclass
class Reconciliation:
    """What one reconciliation run learned from the provider."""

    checked: int = 0
    paid: int = 0
    cancelled: int = 0
    refunds_finished: int = 0
    failed: int = 0  # the provider did not answer, or the step failed: the next run retries


class PaymentService:
    def __init__(self, uow: UnitOfWork, order_service: OrderService,
                 customers: PaymentCustomers, payments: PaymentGateway,
                 verifier: WebhookVerifier, clock: Clock) -> None:
        self._uow = uow
        self._order_service = order_service
        self._customers = customers
        self._payments = payments
        self._verifier = verifier
        self._clock = clock

    def ephemeral_key(self, actor: Actor, api_version: str) -> dict[str, Any]:
        """An ephemeral key for the caller's provider customer, for the mobile SDKs."""
        actor.require(Permission.PLACE_ORDERS)
        assert actor.account_id is not None
        customer_id = self._customers.ensure(actor.account_id)
        self._uow.commit()
        return self._payments.create_ephemeral_key(customer_id, api_version)

    def handle_webhook(self, payload: bytes, signature: str | None) -> PaymentEvent:
        """Verify a provider notification and apply it once, whatever the delivery order."""
        event = self._verifier.verify(payload, signature)
        if event.kind is None or event.payment_intent_id is None:
            return event
        if not self._uow.payment_events.first_delivery(event, self._clock.now()):
            log.info("payment event %s delivered again: no second effect", event.id)
            return event
        order = self._order_of(event)
        if order is None:
            log.warning("payment event %s names unknown payment %s", event.id,
                        event.payment_intent_id)
            return event
        actor = Actor.system(request_id=f"{self._payments.provider}:{event.id}")
        if event.kind is PaymentEventKind.SUCCEEDED:
            self._order_service.payment_succeeded(order.id, event.amount, event.currency, actor)
        elif event.kind is PaymentEventKind.REFUNDED:
            self._order_service.refunded_by_provider(order.id, event.amount, actor)
        else:
            self._order_service.payment_failed(order.id, actor)
        return event

    def _order_of(self, event: PaymentEvent) -> Order | None:
        """The order the event is about: by its intent, or by the order id the intent carries
        in its metadata when our side never learnt the intent (a lost response)."""
        assert event.payment_intent_id is not None
        order = self._uow.orders.get_by_payment_intent(event.payment_intent_id)
        if order is not None or event.order_id is None:
            return order
        order = self._uow.orders.get(event.order_id)
        if order is None or order.payment.payment_intent_id is not None:
            return None  # the metadata names an order paid through another intent
        payment = replace(order.payment, payment_intent_id=event.payment_intent_id)
        self._uow.orders.set_payment(order.id, payment, self._clock.now())
        return replace(order, payment=payment)

    def reconcile(self, actor: Actor, older_than: timedelta, limit: int = 200) -> Reconciliation:
        """Ask the provider about orders pending longer than `older_than` and apply what it
        says, so missed webhooks heal; send refunds left unsent and those owed for
        cancelled orders. Safe on several hosts at once: every change is a guarded
        transition, claim or idempotent call."""
        report = Reconciliation()
        for order_id in self._uow.orders.pending_before(self._clock.now() - older_than, limit):
            self._carry_on(report, f"order {order_id}",
                           partial(self._check_pending, order_id, report, actor))
        # refunds claimed but not sent: their call failed, or their sender died (taken more
        # than `older_than` ago); each goes again with its own idempotency key, so a call
        # that did reach the provider is answered with the same refund, not paid twice
        stale_before = self._clock.now() - older_than
        for refund in self._uow.orders.refunds_to_retry(stale_before, limit):
            report.refunds_finished += self._carry_on(
                report, f"refund {refund.id} of order {refund.order_id}",
                partial(self._order_service.resend_refund, refund.id, actor, stale_before))
        for order_id in self._uow.orders.owing_refund(limit):
            report.refunds_finished += self._carry_on(
                report, f"refund owed for order {order_id}",
                partial(self._return_late_payment, order_id, actor))
        return report

    def _check_pending(self, order_id: str, report: Reconciliation, actor: Actor) -> int:
        order = self._uow.orders.get(order_id)
        if order is None or order.payment.payment_intent_id is None:
            return 0  # never reached the provider: expiry returns its stock
        self._uow.commit()
        intent = self._payments.retrieve_intent(order.payment.payment_intent_id)
        report.checked += 1
        if intent.status is PaymentStatus.SUCCEEDED:
            self._order_service.payment_succeeded(order.id, intent.amount_received,
                                                  intent.currency, actor)
            report.paid += self._status_of(order.id) is OrderStatus.PAID
        elif intent.status in (PaymentStatus.CANCELED, PaymentStatus.DECLINED):
            self._order_service.payment_failed(order.id, actor)
            report.cancelled += self._status_of(order.id) is OrderStatus.CANCELLED
        return 1

    def _return_late_payment(self, order_id: str, actor: Actor) -> int:
        self._order_service.return_late_payment(order_id, actor)
        return 1

    def _carry_on(self, report: Reconciliation, subject: str, step: Callable[[], int]) -> int:
        """Run one order's step; whatever fails there is logged and counted, and the run
        goes on with the next order (the next run tries this one again)."""
        try:
            return step()
        except PaymentProviderUnavailable as error:
            log.warning("reconcile: %s: the provider did not answer: %s", subject, error)
        except Exception:
            log.exception("reconcile: %s failed", subject)
            self._uow.abort()
        report.failed += 1
        return 0

    def _status_of(self, order_id: str) -> OrderStatus | None:
        order = self._uow.orders.get(order_id)
        return None if order is None else order.status

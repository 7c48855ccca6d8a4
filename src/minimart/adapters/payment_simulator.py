"""The development payment simulator (`minimart.payments = memory`): Stripe's test card
numbers, declines and outages without a network, so a newcomer's shop takes orders."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

from minimart.domain.ids import new_id
from minimart.domain.money import Money
from minimart.domain.payments import (
    PaymentIntent,
    PaymentMethodRefused,
    PaymentProviderUnavailable,
    PaymentStatus,
)

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

"""The simulated payment gateway that development and the tests run on."""

from __future__ import annotations

import pytest

from minimart.adapters.payment_simulator import MemoryPaymentGateway
from minimart.domain.money import Money
from minimart.domain.payments import PaymentMethodRefused


def test_ids_stay_unique_across_a_restart_of_the_process():
    """Numbered ids started from 1 again after a restart, and the second shopper's first
    order then collided with the first's stored customer id (a 500 on every first order)."""
    before, after = MemoryPaymentGateway(), MemoryPaymentGateway()  # one process, then the next

    customers = {gateway.create_customer(account_id=account, email=f"{account}@example.com",
                                         idempotency_key=f"account-{account}-customer")
                 for gateway, account in ((before, "a1"), (after, "a2"))}
    intents = {gateway.create_intent(order_id="o1", amount=Money(100, "usd"), customer_id=None,
                                     payment_method=None, idempotency_key="order-o1").id
               for gateway in (before, after)}

    assert len(customers) == 2
    assert len(intents) == 2


def test_the_same_idempotency_key_still_answers_the_same_objects():
    gateway = MemoryPaymentGateway()
    ids = {gateway.create_customer(account_id="a1", email="a@example.com",
                                   idempotency_key="account-a1-customer") for _ in range(3)}
    assert len(ids) == 1


@pytest.mark.parametrize("payment_method", ["0", "", "visa", "tok_visa"])
def test_a_payment_method_stripe_would_not_know_is_refused(payment_method):
    with pytest.raises(PaymentMethodRefused):
        MemoryPaymentGateway().create_intent(order_id="o1", amount=Money(100, "usd"),
                                             customer_id=None, payment_method=payment_method,
                                             idempotency_key="order-o1")

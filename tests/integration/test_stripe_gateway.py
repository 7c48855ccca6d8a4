"""StripePaymentGateway against localstripe, a stateful fake of Stripe's HTTP API.

localstripe lacks ephemeral keys (served by a recorded-response shim in
localstripe_server.py), ignores Idempotency-Key (our own tests prove idempotency), and
declines with pm_card_chargeCustomerFail.
"""

from __future__ import annotations

import time

import pytest
import stripe

from minimart.adapters.stripe_gateway import StripePaymentGateway
from minimart.domain.ids import new_id
from minimart.domain.money import Money
from minimart.domain.payments import (
    PaymentMethodRefused,
    PaymentProviderUnavailable,
    PaymentStatus,
)
from tests.integration.conftest import free_port
from tests.support.tcp_proxy import TcpProxy

API_KEY = "sk_test_minimart"


@pytest.fixture
def gateway(localstripe_url: str) -> StripePaymentGateway:
    return StripePaymentGateway(API_KEY, api_base=localstripe_url, timeout_seconds=5,
                                max_network_retries=0)


@pytest.fixture
def stripe_client(localstripe_url: str) -> stripe.StripeClient:
    return stripe.StripeClient(API_KEY, base_addresses={"api": localstripe_url})


def usd(amount: int) -> Money:
    return Money(amount, "usd")


def test_a_customer_is_created_with_the_account_in_its_metadata(gateway, stripe_client):
    customer_id = gateway.create_customer(account_id="acc1", email="ann@example.com",
                                          idempotency_key="account-acc1-customer")
    customer = stripe_client.v1.customers.retrieve(customer_id)
    assert customer.email == "ann@example.com"
    assert customer.metadata["account_id"] == "acc1"


def test_an_ephemeral_key_is_made_for_the_customer_with_the_requested_api_version(gateway):
    customer_id = gateway.create_customer(account_id="acc2", email="bo@example.com",
                                          idempotency_key="account-acc2-customer")
    key = gateway.create_ephemeral_key(customer_id, "2024-06-20")
    assert key["object"] == "ephemeral_key"
    assert key["associated_objects"] == [{"id": customer_id, "type": "customer"}]
    assert key["secret"].startswith("ek_test_")
    assert key["stripe_version_echo"] == "2024-06-20"


def test_an_intent_confirmed_with_a_good_card_succeeds_for_the_whole_amount(gateway,
                                                                            stripe_client):
    intent = gateway.create_intent(order_id="ord1", amount=usd(1234), customer_id=None,
                                   payment_method="pm_card_visa", idempotency_key="k1")
    assert intent.status is PaymentStatus.SUCCEEDED
    assert (intent.amount, intent.amount_received, intent.currency) == (1234, 1234, "usd")
    stored = stripe_client.v1.payment_intents.retrieve(intent.id)
    assert stored.metadata["order_id"] == "ord1"


def test_a_declined_card_answers_declined_not_an_error(gateway):
    intent = gateway.create_intent(order_id="ord2", amount=usd(500), customer_id=None,
                                   payment_method="pm_card_chargeCustomerFail",
                                   idempotency_key="k2")
    assert intent.status is PaymentStatus.DECLINED
    assert intent.amount_received == 0


def test_an_intent_without_a_payment_method_waits_for_the_client_with_a_secret(gateway):
    customer_id = gateway.create_customer(account_id="acc3", email="cy@example.com",
                                          idempotency_key="account-acc3-customer")
    intent = gateway.create_intent(order_id="ord3", amount=usd(700), customer_id=customer_id,
                                   payment_method=None, idempotency_key="k3")
    assert intent.status is PaymentStatus.REQUIRES_PAYMENT_METHOD
    assert intent.client_secret and intent.client_secret.startswith(intent.id)
    assert gateway.retrieve_intent(intent.id).status is PaymentStatus.REQUIRES_PAYMENT_METHOD


def test_a_cancelled_intent_reads_back_as_canceled(gateway):
    intent = gateway.create_intent(order_id="ord4", amount=usd(900), customer_id=None,
                                   payment_method=None, idempotency_key="k4")
    gateway.cancel_intent(intent.id)
    assert gateway.retrieve_intent(intent.id).status is PaymentStatus.CANCELED


def test_a_refund_returns_the_amount_of_a_paid_intent(gateway, stripe_client):
    intent = gateway.create_intent(order_id="ord5", amount=usd(2500), customer_id=None,
                                   payment_method="pm_card_visa", idempotency_key="k5")
    gateway.refund(intent.id, usd(2500), idempotency_key="order-ord5-refund")
    refunds = stripe_client.v1.refunds.list(params={"payment_intent": intent.id})
    assert [(r.amount, r.status) for r in refunds.data] == [(2500, "succeeded")]


def test_an_unknown_intent_is_reported_as_the_provider_refusing(gateway):
    with pytest.raises(PaymentProviderUnavailable):
        gateway.retrieve_intent("pi_does_not_exist")


def seconds_to_give_up(api_base: str, timeout_seconds: float) -> float:
    """How long placing an intent at this Stripe takes to fail as unavailable."""
    gateway = StripePaymentGateway(API_KEY, api_base=api_base,
                                   timeout_seconds=timeout_seconds, max_network_retries=1)
    started = time.monotonic()
    with pytest.raises(PaymentProviderUnavailable):
        gateway.create_intent(order_id=new_id(), amount=usd(100), customer_id=None,
                              payment_method="pm_card_visa", idempotency_key=new_id())
    return time.monotonic() - started


def test_an_unreachable_stripe_fails_fast_as_unavailable():
    assert seconds_to_give_up(f"http://127.0.0.1:{free_port()}", timeout_seconds=2) < 10


def test_a_stripe_slower_than_the_timeout_fails_within_the_bound_as_unavailable(
        localstripe_url):
    slow = TcpProxy(int(localstripe_url.rsplit(":", 1)[1]), delay_seconds=5).start()
    try:
        # two 1 s attempts and a back-off, not the 5 s Stripe takes
        assert seconds_to_give_up(f"http://127.0.0.1:{slow.port}", timeout_seconds=1) < 4.5
    finally:
        slow.stop()


@pytest.mark.parametrize("payment_method", ["0", "pm_no_such_method"])
def test_a_payment_method_stripe_refuses_is_the_clients_mistake_not_an_outage(gateway,
                                                                           payment_method):
    with pytest.raises(PaymentMethodRefused) as refused:
        gateway.create_intent(order_id=f"ord-{new_id()}", amount=usd(500), customer_id=None,
                              payment_method=payment_method,
                              idempotency_key=f"order-{new_id()}-intent")
    assert refused.value.code == "invalid_payment_method"

"""The webhook verifier's timestamp check: the tolerance holds both ways."""

from __future__ import annotations

import json
import time

import pytest

from minimart.adapters.stripe_gateway import StripeWebhookVerifier
from minimart.domain.payments import InvalidWebhook
from tests.stripe_events import event_payload, intent_object, signature_header

SECRET = "whsec_test_" + "x" * 32
PAYLOAD = event_payload("payment_intent.succeeded", intent_object("pi_1", 450, "order-1"))


@pytest.fixture
def verifier() -> StripeWebhookVerifier:
    return StripeWebhookVerifier(SECRET, tolerance_seconds=300)


@pytest.mark.parametrize("offset", [-299, 0, 299])
def test_a_signature_within_the_tolerance_either_way_verifies(verifier, offset):
    header = signature_header(PAYLOAD, SECRET, int(time.time()) + offset)

    assert verifier.verify(PAYLOAD, header).payment_intent_id == "pi_1"


@pytest.mark.parametrize("offset", [-400, 400, 86_400 * 365])
def test_a_signature_dated_past_the_tolerance_either_way_is_refused(verifier, offset):
    header = signature_header(PAYLOAD, SECRET, int(time.time()) + offset)

    with pytest.raises(InvalidWebhook):
        verifier.verify(PAYLOAD, header)


def test_the_check_uses_the_clock_it_is_given():
    now = time.time() - 3600
    verifier = StripeWebhookVerifier(SECRET, tolerance_seconds=300, now=lambda: now)
    header = signature_header(PAYLOAD, SECRET, int(time.time()))

    with pytest.raises(InvalidWebhook, match="future"):
        verifier.verify(PAYLOAD, header)


@pytest.mark.parametrize(("field", "value"), [("event", []), ("event", 7), ("intent", []),
                                              ("intent", {"id": "pi_1"})])
def test_ids_that_are_not_text_are_refused_not_stored(verifier, field, value):
    """Found by fuzzing: a signed event whose id was an empty list reached the database (500)."""
    event = json.loads(PAYLOAD)
    if field == "event":
        event["id"] = value
    else:
        event["data"]["object"]["id"] = value
    payload = json.dumps(event).encode()

    with pytest.raises(InvalidWebhook, match="cannot be read"):
        verifier.verify(payload, signature_header(payload, SECRET, int(time.time())))

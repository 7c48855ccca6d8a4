"""Stripe webhook payloads signed the way Stripe signs them, for the tests."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any


def signature_header(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def event_payload(event_type: str, obj: dict[str, Any], event_id: str | None = None) -> bytes:
    return json.dumps({"id": event_id or f"evt_{uuid.uuid4().hex}", "object": "event",
                       "type": event_type, "data": {"object": obj}}).encode()


def intent_object(intent_id: str, amount: int, order_id: str | None = None,
                  currency: str = "usd", status: str = "succeeded") -> dict[str, Any]:
    return {"id": intent_id, "object": "payment_intent", "amount": amount,
            "amount_received": amount if status == "succeeded" else 0, "currency": currency,
            "status": status, "metadata": {"order_id": order_id} if order_id else {}}

"""Opaque identifiers: random, URL-safe, and meaningless to clients."""

import uuid


def new_id() -> str:
    return uuid.uuid4().hex

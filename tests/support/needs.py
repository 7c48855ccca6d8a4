"""A test's outside requirement: skip without it, except under CI=true, where it fails."""

from __future__ import annotations

import os

import pytest


def require(available: bool, what: str) -> None:
    """Go on if `what` is there; otherwise skip, or fail under CI=true (CI must run it)."""
    if available:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required under CI=true", pytrace=False)
    pytest.skip(f"{what} is not available")

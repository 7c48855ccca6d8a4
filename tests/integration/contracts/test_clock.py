"""Clock's contract: the system clock and the fake both tell a timezone-aware time in UTC,
and neither goes back."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from minimart.adapters.clock import SystemClock
from tests.fakes.common import FixedClock


@pytest.fixture(params=["fake", "system"])
def clock(request: pytest.FixtureRequest) -> Any:
    return FixedClock() if request.param == "fake" else SystemClock()


def test_the_time_is_aware_and_in_utc(clock):
    now = clock.now()

    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)


def test_the_time_never_goes_back(clock):
    first = clock.now()

    assert clock.now() >= first

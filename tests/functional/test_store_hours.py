"""Opening hours past midnight, overlaps refused, and open_now in the store's time zone
(API.md, Stores)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.fakes.common import FixedClock
from tests.functional.envelope import assert_error

STORE = "/api/v1/store"


@pytest.fixture
def admin(auth: Any) -> dict[str, str]:
    return auth("admin")


@pytest.mark.parametrize(("moment", "open_now"), [
    (datetime(2026, 3, 6, 16, 30, tzinfo=UTC), False),  # Friday 17:30 in Paris
    (datetime(2026, 3, 6, 17, 0, tzinfo=UTC), True),    # Friday 18:00
    (datetime(2026, 3, 6, 23, 30, tzinfo=UTC), True),   # Saturday 00:30
    (datetime(2026, 3, 7, 1, 30, tzinfo=UTC), False),   # Saturday 02:30
])
def test_open_now_honours_an_interval_past_midnight(app, testapp, admin, moment, open_now):
    hours = {"fri": [["18:00", "02:00"]]}
    saved = testapp.patch_json(STORE, {"opening_hours": hours, "time_zone": "Europe/Paris"},
                               headers=admin).json
    assert saved["opening_hours"] == hours
    container = app.registry.container
    container.adapters = replace(container.adapters, clock=FixedClock(moment))
    assert testapp.get(STORE).json["open_now"] is open_now


def test_overlapping_intervals_answer_422_and_change_nothing(testapp, admin):
    before = testapp.get(STORE).json
    response = testapp.patch_json(STORE, {"opening_hours": {
        "fri": [["18:00", "02:00"]], "sat": [["01:00", "09:00"]]}}, headers=admin,
        status=422)
    assert "opening_hours.sat" in assert_error(response, 422, "validation_failed")["details"]
    assert testapp.get(STORE).json == before

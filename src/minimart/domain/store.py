"""The store's own settings: its name, rates, minimum order and when it takes orders.

Opening hours are per weekday in the store's time zone, as "HH:MM" pairs with the start
inside and the end outside the interval ("24:00" ends at midnight). An end at or before
its start runs past midnight into the next day (["18:00", "02:00"] on Friday is open until
2 in the night to Saturday). No two intervals of the week may overlap. A store with no
hours at all takes orders whenever its open switch is on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from minimart.domain.errors import ValidationFailed
from minimart.domain.pricing import Pricing

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_TAX_RATE_BPS = 10_000
MAX_INTERVALS_PER_DAY = 6
_TIME = re.compile(r"([01]\d|2[0-3]):[0-5]\d|24:00")
_DAY = 24 * 60
_WEEK = 7 * _DAY
EDITABLE = frozenset({"name", "tax_rate_bps", "delivery_fee", "minimum_order", "open",
                      "opening_hours", "time_zone"})

OpeningHours = dict[str, list[tuple[str, str]]]


@dataclass(frozen=True, slots=True)
class StoreSettings:
    name: str
    currency: str
    tax_rate_bps: int = 0
    delivery_fee: int = 0
    minimum_order: int = 0
    open: bool = True
    opening_hours: OpeningHours = field(default_factory=dict)
    time_zone: str = "UTC"

    @property
    def pricing(self) -> Pricing:
        return Pricing(currency=self.currency, tax_rate_bps=self.tax_rate_bps,
                       delivery_fee=self.delivery_fee)

    def takes_orders_at(self, moment: datetime) -> bool:
        if not self.open:
            return False
        if not self.opening_hours:
            return True
        local = moment.astimezone(ZoneInfo(self.time_zone))
        now = local.weekday() * _DAY + local.hour * 60 + local.minute
        return any(start <= now < end for start, end, _ in week_ranges(self.opening_hours))

    def fields(self) -> dict[str, Any]:
        return {"name": self.name, "tax_rate_bps": self.tax_rate_bps,
                "delivery_fee": self.delivery_fee, "minimum_order": self.minimum_order,
                "open": self.open, "time_zone": self.time_zone,
                "opening_hours": {day: [list(i) for i in spans]
                                  for day, spans in sorted(self.opening_hours.items())}}


def _minutes(hh_mm: str) -> int:
    hours, minutes = hh_mm.split(":")
    return int(hours) * 60 + int(minutes)


def week_ranges(hours: OpeningHours) -> list[tuple[int, int, str]]:
    """Each interval as [start, end) minutes from Monday 00:00 local, sorted, with its day.
    One running past midnight ends on the next day; past Sunday night, it wraps to Monday
    morning (split in two, as the week is a circle)."""
    ranges = []
    for day, spans in hours.items():
        base = WEEKDAYS.index(day) * _DAY
        for start, end in spans:
            low, high = base + _minutes(start), base + _minutes(end)
            if high <= low:
                high += _DAY
            if high > _WEEK:
                ranges += [(low, _WEEK, day), (0, high - _WEEK, day)]
            else:
                ranges.append((low, high, day))
    return sorted(ranges)


def _overlapping_days(hours: OpeningHours) -> list[str]:
    """The days of intervals that start before an earlier one has ended."""
    days: set[str] = set()
    ended = 0
    for start, end, day in week_ranges(hours):
        if start < ended:
            days.add(day)
        ended = max(ended, end)
    return sorted(days, key=WEEKDAYS.index)


def check_settings(settings: StoreSettings) -> None:
    problems: dict[str, list[str]] = {}
    if not settings.name.strip():
        problems["name"] = ["must not be blank"]
    if not 0 <= settings.tax_rate_bps <= MAX_TAX_RATE_BPS:
        problems["tax_rate_bps"] = [f"must be 0 to {MAX_TAX_RATE_BPS} basis points"]
    for amount in ("delivery_fee", "minimum_order"):
        if getattr(settings, amount) < 0:
            problems[amount] = ["must not be negative"]
    try:
        ZoneInfo(settings.time_zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "Europe" is a folder, not a zone
        problems["time_zone"] = ["not an IANA time zone, such as Europe/Paris"]
    for day, spans in settings.opening_hours.items():
        if day not in WEEKDAYS:
            problems[f"opening_hours.{day}"] = [f"days are {', '.join(WEEKDAYS)}"]
        elif len(spans) > MAX_INTERVALS_PER_DAY:
            problems[f"opening_hours.{day}"] = [f"at most {MAX_INTERVALS_PER_DAY} intervals"]
        elif not all(_TIME.fullmatch(a) and _TIME.fullmatch(b) and a != b and a != "24:00"
                     for a, b in spans):
            problems[f"opening_hours.{day}"] = ['each interval is ["HH:MM", "HH:MM"], start '
                                                "and end different (an end before the start "
                                                "runs past midnight)"]
    if not any(key.startswith("opening_hours") for key in problems):
        for day in _overlapping_days(settings.opening_hours):
            problems[f"opening_hours.{day}"] = ["intervals overlap"]
    if problems:
        raise ValidationFailed("the store settings are not valid", details=problems)

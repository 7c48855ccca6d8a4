"""StoreService and StoreSettings on the in-memory fakes: API.md (Store) and the
store_closed rule of Orders.

Settings are the ini's defaults until an admin saves some; only `store.manage` (admins) may
change them; a bad change is refused naming the field and saves nothing; every change is
audited field by field. Opening hours are per weekday, in the store's time zone, with the
start inside and the end outside each interval.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from minimart.domain.actors import Actor, Role
from minimart.domain.errors import Forbidden, ValidationFailed
from minimart.domain.pricing import Pricing
from minimart.domain.store import StoreSettings
from tests.fakes.common import FixedClock
from tests.fakes.wiring import fake_adapters, fake_policies, fake_services

ADMIN = Actor("admin-1", Role.ADMIN, request_id="req-admin")
STAFF = Actor("staff-1", Role.STAFF, request_id="req-staff")
CUSTOMER = Actor("customer-1", Role.CUSTOMER, request_id="req-customer")
ANONYMOUS = Actor.anonymous(request_id="req-anon")

DEFAULTS = StoreSettings(name="Corner Shop", currency="usd", tax_rate_bps=825,
                         delivery_fee=399)

PARIS = "Europe/Paris"
NEW_YORK = "America/New_York"


@pytest.fixture
def clock():
    return FixedClock(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))


@pytest.fixture
def services(clock):
    return fake_services(adapters=fake_adapters(clock=clock),
                         policies=fake_policies(store_defaults=DEFAULTS))


@pytest.fixture
def repository(services):
    return services.uow.store_settings


@pytest.fixture
def audit(services):
    return services.uow.audit


@pytest.fixture
def store(services):
    return services.store


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def local(zone: str, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=ZoneInfo(zone))


def settings(**fields) -> StoreSettings:
    return StoreSettings(**{"name": "Corner Shop", "currency": "usd", **fields})


# --- reading --------------------------------------------------------------------------------

def test_current_settings_are_the_ini_defaults_until_an_admin_saves_some(store, repository):
    assert store.current() == DEFAULTS
    assert repository.saved is None


def test_default_settings_are_open_with_no_minimum_and_no_hours_in_utc():
    plain = StoreSettings(name="x", currency="usd")

    assert (plain.open, plain.minimum_order, plain.opening_hours, plain.time_zone) == (
        True, 0, {}, "UTC")
    assert (plain.tax_rate_bps, plain.delivery_fee) == (0, 0)


def test_saved_settings_replace_the_defaults(store, repository):
    store.update({"tax_rate_bps": 1000, "minimum_order": 1500}, ADMIN)

    current = store.current()
    assert (current.tax_rate_bps, current.minimum_order) == (1000, 1500)
    assert current.delivery_fee == DEFAULTS.delivery_fee  # unchanged fields carry over
    assert repository.saved is not None


def test_the_currency_is_always_the_ini_one_even_if_saved_otherwise(store, repository, clock):
    repository.save(settings(currency="eur", tax_rate_bps=10), clock.now())

    assert store.current().currency == "usd"
    assert store.current().tax_rate_bps == 10


def test_pricing_of_settings_carries_the_tax_rate_and_delivery_fee():
    assert settings(tax_rate_bps=700, delivery_fee=250).pricing == Pricing(
        currency="usd", tax_rate_bps=700, delivery_fee=250)


# --- changing: permissions -------------------------------------------------------------------

def test_an_admin_may_change_the_settings(store):
    updated = store.update({"name": "Night Market", "open": False}, ADMIN)

    assert (updated.name, updated.open) == ("Night Market", False)
    assert store.current() == updated


@pytest.mark.parametrize("actor", [STAFF, CUSTOMER, ANONYMOUS],
                         ids=["staff", "customer", "anonymous"])
def test_only_store_managers_may_change_the_settings(store, repository, audit, actor):
    with pytest.raises(Forbidden):
        store.update({"open": False}, actor)

    assert repository.saved is None
    assert audit.events == []
    assert store.current().open is True


def test_the_system_may_change_the_settings(store):
    assert store.update({"minimum_order": 100}, Actor.system()).minimum_order == 100


def test_a_field_that_is_not_a_setting_is_refused(store, repository):
    with pytest.raises(ValueError, match="currency"):
        store.update({"currency": "eur"}, ADMIN)

    assert repository.saved is None


# --- changing: validation --------------------------------------------------------------------

INVALID_CHANGES = [
    pytest.param({"tax_rate_bps": 10_001}, "tax_rate_bps", id="tax-over-100%"),
    pytest.param({"tax_rate_bps": -1}, "tax_rate_bps", id="negative-tax"),
    pytest.param({"delivery_fee": -1}, "delivery_fee", id="negative-delivery-fee"),
    pytest.param({"minimum_order": -1}, "minimum_order", id="negative-minimum"),
    pytest.param({"name": "   "}, "name", id="blank-name"),
    pytest.param({"time_zone": "Mars/Olympus_Mons"}, "time_zone", id="unknown-zone"),
    pytest.param({"time_zone": ""}, "time_zone", id="empty-zone"),
    pytest.param({"time_zone": "../../etc/passwd"}, "time_zone", id="path-zone"),
    pytest.param({"opening_hours": {"funday": [("09:00", "17:00")]}}, "opening_hours.funday",
                 id="unknown-day"),
    pytest.param({"opening_hours": {"Mon": [("09:00", "17:00")]}}, "opening_hours.Mon",
                 id="capitalised-day"),
    pytest.param({"opening_hours": {"mon": [("9:00", "17:00")]}}, "opening_hours.mon",
                 id="one-digit-hour"),
    pytest.param({"opening_hours": {"mon": [("09:00", "25:00")]}}, "opening_hours.mon",
                 id="hour-25"),
    pytest.param({"opening_hours": {"mon": [("09:60", "17:00")]}}, "opening_hours.mon",
                 id="minute-60"),
    pytest.param({"opening_hours": {"mon": [("24:01", "24:00")]}}, "opening_hours.mon",
                 id="after-24"),
    pytest.param({"opening_hours": {"mon": [("9am", "5pm")]}}, "opening_hours.mon",
                 id="am-pm"),
    pytest.param({"opening_hours": {"tue": [("09:00", "14:00"), ("13:00", "17:00")]}},
                 "opening_hours.tue", id="overlapping"),
    pytest.param({"opening_hours": {"tue": [("18:00", "02:00")], "wed": [("01:00", "05:00")]}},
                 "opening_hours.wed", id="overlapping-past-midnight"),
    pytest.param({"opening_hours": {"sun": [("20:00", "03:00")], "mon": [("02:00", "09:00")]}},
                 "opening_hours.mon", id="overlapping-past-sunday-midnight"),
    pytest.param({"opening_hours": {"tue": [("08:00", "20:00"), ("09:00", "10:00"),
                                            ("12:00", "13:00")]}},
                 "opening_hours.tue", id="overlapping-inside"),
    pytest.param({"opening_hours": {"wed": [("12:00", "12:00")]}}, "opening_hours.wed",
                 id="start-equals-end"),
    pytest.param({"opening_hours": {"thu": [("24:00", "24:00")]}}, "opening_hours.thu",
                 id="starts-at-24"),
    pytest.param({"opening_hours": {"fri": [("09:00", "10:00")] * 7}}, "opening_hours.fri",
                 id="too-many-intervals"),
]


@pytest.mark.parametrize(("changes", "field"), INVALID_CHANGES)
def test_invalid_settings_are_refused_naming_the_field_and_nothing_is_saved(
        store, repository, audit, changes, field):
    with pytest.raises(ValidationFailed) as refused:
        store.update(changes, ADMIN)

    assert field in refused.value.details
    assert refused.value.details[field]  # at least one message
    assert repository.saved is None
    assert audit.events == []
    assert store.current() == DEFAULTS


def test_every_invalid_field_is_named_at_once(store):
    with pytest.raises(ValidationFailed) as refused:
        store.update({"tax_rate_bps": 20_000, "delivery_fee": -5, "time_zone": "Nowhere"},
                     ADMIN)

    assert {"tax_rate_bps", "delivery_fee", "time_zone"} <= set(refused.value.details)


def test_an_invalid_change_leaves_earlier_saved_settings_alone(store, repository):
    saved = store.update({"tax_rate_bps": 500}, ADMIN)

    with pytest.raises(ValidationFailed):
        store.update({"tax_rate_bps": 500_000}, ADMIN)

    assert repository.saved == saved
    assert store.current().tax_rate_bps == 500


@pytest.mark.parametrize("zone", ["Europe", "America"])
def test_a_time_zone_region_that_is_not_a_zone_is_a_validation_failure(store, repository,
                                                                       zone):
    # tzdata keeps regions as directories: ZoneInfo("Europe") raises IsADirectoryError
    with pytest.raises(ValidationFailed) as refused:
        store.update({"time_zone": zone}, ADMIN)

    assert "time_zone" in refused.value.details
    assert repository.saved is None


def test_a_time_with_a_trailing_newline_is_not_hh_mm(store, repository):
    with pytest.raises(ValidationFailed) as refused:
        store.update({"opening_hours": {"mon": [("09:00\n", "17:00")]}}, ADMIN)

    assert "opening_hours.mon" in refused.value.details
    assert repository.saved is None


@pytest.mark.parametrize("changes", [
    {"tax_rate_bps": 0}, {"tax_rate_bps": 10_000}, {"delivery_fee": 0}, {"minimum_order": 0},
    {"time_zone": PARIS}, {"time_zone": "UTC"},
    {"opening_hours": {}},
    {"opening_hours": {"mon": []}},
    {"opening_hours": {"sun": [("00:00", "24:00")]}},
    {"opening_hours": {"sat": [("00:00", "00:01"), ("23:59", "24:00")]}},
    {"opening_hours": {"fri": [(f"{h:02}:00", f"{h:02}:30") for h in range(9, 15)]}},
], ids=lambda c: repr(c))
def test_boundary_settings_are_accepted(store, changes):
    updated = store.update(changes, ADMIN)

    for field, value in changes.items():
        assert getattr(updated, field) == value


def test_opening_hours_given_as_lists_are_kept_as_pairs(store):
    updated = store.update({"opening_hours": {"mon": [["09:00", "12:00"], ["14:00", "18:00"]]}},
                           ADMIN)

    assert updated.opening_hours == {"mon": [("09:00", "12:00"), ("14:00", "18:00")]}


# --- changing: audit ---------------------------------------------------------------------------

def test_a_change_writes_one_audit_event_with_the_changed_fields_only(store, audit, clock):
    store.update({"tax_rate_bps": 1000, "open": False, "delivery_fee": DEFAULTS.delivery_fee},
                 ADMIN)

    [event] = audit.events
    assert (event.action, event.entity_type, event.entity_id) == (
        "store.updated", "store", "store")
    assert (event.actor_id, event.request_id, event.at) == ("admin-1", "req-admin", clock.now())
    assert event.changes == {"tax_rate_bps": [825, 1000], "open": [True, False]}


def test_the_audit_event_shows_opening_hours_before_and_after(store, audit):
    store.update({"opening_hours": {"mon": [("09:00", "17:00")]}}, ADMIN)
    store.update({"opening_hours": {"mon": [("10:00", "17:00")]}, "time_zone": PARIS}, ADMIN)

    first, second = audit.events
    assert first.changes == {"opening_hours": [{}, {"mon": [["09:00", "17:00"]]}]}
    assert second.changes == {
        "opening_hours": [{"mon": [["09:00", "17:00"]]}, {"mon": [["10:00", "17:00"]]}],
        "time_zone": ["UTC", PARIS]}


def test_each_change_compares_with_the_settings_then_current(store, audit):
    store.update({"minimum_order": 1000}, ADMIN)
    store.update({"minimum_order": 2000}, ADMIN)

    assert [e.changes for e in audit.events] == [{"minimum_order": [0, 1000]},
                                                 {"minimum_order": [1000, 2000]}]


# --- takes_orders_at ---------------------------------------------------------------------------

def test_a_closed_store_takes_no_orders_whatever_its_hours():
    closed = settings(open=False, opening_hours={day: [("00:00", "24:00")] for day in
                                                 ("mon", "tue", "wed", "thu", "fri", "sat",
                                                  "sun")})

    assert not closed.takes_orders_at(utc(2026, 3, 2, 12, 0))
    assert not settings(open=False).takes_orders_at(utc(2026, 3, 2, 12, 0))


@pytest.mark.parametrize("moment", [utc(2026, 3, 2, 0, 0), utc(2026, 3, 4, 3, 17),
                                    utc(2026, 7, 5, 23, 59, 59)])
def test_an_open_store_without_hours_always_takes_orders(moment):
    assert settings().takes_orders_at(moment)


def test_a_day_without_hours_is_closed_when_other_days_have_hours():
    # 2026-03-02 is a Monday, 2026-03-03 a Tuesday
    hours = settings(opening_hours={"mon": [("09:00", "17:00")]})

    assert hours.takes_orders_at(utc(2026, 3, 2, 12, 0))
    assert not hours.takes_orders_at(utc(2026, 3, 3, 12, 0))


def test_a_day_with_an_empty_list_is_closed():
    hours = settings(opening_hours={"mon": []})

    assert not hours.takes_orders_at(utc(2026, 3, 2, 12, 0))


@pytest.mark.parametrize(("hour", "minute", "second", "open_"), [
    (8, 59, 59, False),
    (9, 0, 0, True),    # the start is inside
    (12, 0, 0, True),
    (16, 59, 59, True),
    (17, 0, 0, False),  # the end is outside
    (17, 0, 1, False),
])
def test_the_start_is_inside_and_the_end_outside_the_interval(hour, minute, second, open_):
    hours = settings(opening_hours={"mon": [("09:00", "17:00")]})

    assert hours.takes_orders_at(utc(2026, 3, 2, hour, minute, second)) is open_


def test_several_intervals_a_day_leave_the_gaps_closed():
    hours = settings(opening_hours={"mon": [("11:00", "14:00"), ("18:00", "22:00")]})

    assert hours.takes_orders_at(utc(2026, 3, 2, 12, 0))
    assert not hours.takes_orders_at(utc(2026, 3, 2, 15, 0))
    assert hours.takes_orders_at(utc(2026, 3, 2, 21, 59))
    assert not hours.takes_orders_at(utc(2026, 3, 2, 22, 0))


def test_an_interval_ending_at_24_00_runs_until_midnight():
    hours = settings(opening_hours={"mon": [("18:00", "24:00")]})

    assert hours.takes_orders_at(utc(2026, 3, 2, 23, 59, 59))
    assert hours.takes_orders_at(utc(2026, 3, 2, 23, 59))
    assert not hours.takes_orders_at(utc(2026, 3, 3, 0, 0))  # Tuesday: not open


def test_a_whole_day_is_00_00_to_24_00():
    hours = settings(opening_hours={"mon": [("00:00", "24:00")]})

    assert hours.takes_orders_at(utc(2026, 3, 2, 0, 0))
    assert hours.takes_orders_at(utc(2026, 3, 2, 23, 59, 59))
    assert not hours.takes_orders_at(utc(2026, 3, 1, 23, 59, 59))  # Sunday


def test_hours_are_read_in_the_store_time_zone_not_utc():
    # 09:00-17:00 in Paris is 08:00-16:00 UTC in winter (UTC+1)
    paris = settings(time_zone=PARIS, opening_hours={"mon": [("09:00", "17:00")]})

    assert not paris.takes_orders_at(utc(2026, 1, 5, 7, 30))  # 08:30 in Paris
    assert paris.takes_orders_at(utc(2026, 1, 5, 8, 0))       # 09:00 in Paris
    assert paris.takes_orders_at(utc(2026, 1, 5, 15, 59))     # 16:59 in Paris
    assert not paris.takes_orders_at(utc(2026, 1, 5, 16, 0))  # 17:00 in Paris


def test_the_weekday_is_the_local_one():
    # Sunday 23:30 UTC is already Monday 00:30 in Paris
    paris = settings(time_zone=PARIS, opening_hours={"mon": [("00:00", "02:00")]})
    # and Monday 02:00 UTC is still Sunday 21:00 in New York (UTC-5)
    new_york = settings(time_zone=NEW_YORK, opening_hours={"sun": [("20:00", "22:00")]})

    assert paris.takes_orders_at(utc(2026, 1, 4, 23, 30))
    assert not paris.takes_orders_at(utc(2026, 1, 5, 1, 30))  # 02:30 in Paris
    assert new_york.takes_orders_at(utc(2026, 1, 5, 2, 0))


def test_paris_hours_follow_the_summer_time_change():
    # Europe/Paris goes from UTC+1 to UTC+2 on Sunday 2026-03-29
    paris = settings(time_zone=PARIS, opening_hours={
        day: [("09:00", "17:00")] for day in ("fri", "mon")})

    # Friday 2026-03-27, winter time: 09:00 local is 08:00 UTC
    assert not paris.takes_orders_at(utc(2026, 3, 27, 7, 30))
    assert paris.takes_orders_at(utc(2026, 3, 27, 8, 0))
    assert not paris.takes_orders_at(utc(2026, 3, 27, 16, 0))
    # Monday 2026-03-30, summer time: 09:00 local is 07:00 UTC
    assert paris.takes_orders_at(utc(2026, 3, 30, 7, 0))
    assert paris.takes_orders_at(utc(2026, 3, 30, 7, 30))
    assert not paris.takes_orders_at(utc(2026, 3, 30, 15, 0))
    assert not paris.takes_orders_at(utc(2026, 3, 30, 6, 59))


def test_new_york_hours_follow_the_summer_time_change():
    # America/New_York goes from UTC-5 to UTC-4 on Sunday 2026-03-08 at 02:00
    ny = settings(time_zone=NEW_YORK, opening_hours={
        "sat": [("10:00", "20:00")], "sun": [("01:00", "04:00"), ("10:00", "20:00")]})

    # Saturday 2026-03-07, UTC-5: 10:00 local is 15:00 UTC
    assert not ny.takes_orders_at(utc(2026, 3, 7, 14, 59))
    assert ny.takes_orders_at(utc(2026, 3, 7, 15, 0))
    # Sunday 2026-03-08 after the change, UTC-4: 10:00 local is 14:00 UTC
    assert ny.takes_orders_at(utc(2026, 3, 8, 14, 0))
    assert not ny.takes_orders_at(utc(2026, 3, 8, 13, 59))
    assert not ny.takes_orders_at(utc(2026, 3, 9, 0, 0))  # 20:00 local: closed
    # around the gap: 01:30 EST (06:30 UTC) open, 03:30 EDT (07:30 UTC) open,
    # 04:00 EDT (08:00 UTC) closed
    assert ny.takes_orders_at(utc(2026, 3, 8, 6, 30))
    assert ny.takes_orders_at(utc(2026, 3, 8, 7, 30))
    assert not ny.takes_orders_at(utc(2026, 3, 8, 8, 0))


def test_moments_in_any_offset_mean_the_same_instant():
    paris = settings(time_zone=PARIS, opening_hours={"mon": [("09:00", "17:00")]})
    instant = utc(2026, 1, 5, 8, 30)  # 09:30 in Paris

    for moment in (instant, instant.astimezone(ZoneInfo(NEW_YORK)),
                   instant.astimezone(ZoneInfo("Asia/Tokyo")), local(PARIS, 2026, 1, 5, 9, 30)):
        assert paris.takes_orders_at(moment)
        assert not paris.takes_orders_at(moment + timedelta(hours=8))


def test_saved_hours_decide_through_the_service(store, clock):
    store.update({"time_zone": PARIS, "opening_hours": {"mon": [("12:00", "14:00")]}}, ADMIN)

    # the fixture's clock says Monday 2026-03-02 10:00 UTC = 11:00 in Paris
    assert not store.current().takes_orders_at(clock.now())
    clock.advance(hours=1)
    assert store.current().takes_orders_at(clock.now())


# --- intervals past midnight (API.md, Stores) ----------------------------------------------

@pytest.mark.parametrize(("moment", "open_"), [
    (utc(2026, 3, 6, 16, 59), False),   # Friday 17:59 in Paris
    (utc(2026, 3, 6, 17, 0), True),     # Friday 18:00
    (utc(2026, 3, 6, 23, 30), True),    # Saturday 00:30: the night goes on
    (utc(2026, 3, 7, 0, 59), True),     # Saturday 01:59
    (utc(2026, 3, 7, 1, 0), False),     # Saturday 02:00: the end is outside
    (utc(2026, 3, 7, 12, 0), False),    # Saturday noon: Saturday has no hours
])
def test_an_interval_may_run_past_midnight_in_the_store_s_time_zone(moment, open_):
    hours = settings(opening_hours={"fri": [("18:00", "02:00")]}, time_zone="Europe/Paris")

    assert hours.takes_orders_at(moment) is open_


def test_sunday_night_runs_into_monday_morning():
    hours = settings(opening_hours={"sun": [("22:00", "01:00")]})

    assert hours.takes_orders_at(utc(2026, 3, 8, 23, 0))      # Sunday 23:00
    assert hours.takes_orders_at(utc(2026, 3, 9, 0, 30))      # Monday 00:30
    assert not hours.takes_orders_at(utc(2026, 3, 9, 1, 0))   # Monday 01:00


def test_past_midnight_and_touching_intervals_are_saved(store):
    hours = {"fri": [("18:00", "02:00")], "sat": [("02:00", "04:00"), ("18:00", "24:00")],
             "sun": [("00:00", "03:00")]}

    assert store.update({"opening_hours": hours}, ADMIN).opening_hours == hours

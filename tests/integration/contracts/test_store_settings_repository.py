"""StoreSettingsRepository's contract: the memory fake and the SQLAlchemy adapter (SQLite and
PostgreSQL) keep one set of settings, field for field, the last saved."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from minimart.domain.store import StoreSettings
from tests.integration.contracts.conftest import CURRENCY, T0

SETTINGS = StoreSettings(
    name="Corner shop", currency=CURRENCY, tax_rate_bps=825, delivery_fee=350,
    minimum_order=1000, open=False, time_zone="Europe/Paris",
    opening_hours={"mon": [("08:00", "12:00"), ("14:00", "19:30")],
                   "fri": [("18:00", "02:00")], "sun": [("00:00", "24:00")]})


def test_nothing_saved_reads_as_none(store):
    assert store.read(lambda r: r.store_settings.get()) is None


def test_saved_settings_read_back_field_for_field(store):
    store.work(lambda r: r.store_settings.save(SETTINGS, T0))

    assert store.read(lambda r: r.store_settings.get()) == SETTINGS


def test_the_last_save_replaces_every_field(store):
    store.work(lambda r: r.store_settings.save(SETTINGS, T0))
    newer = replace(SETTINGS, name="Night shop", tax_rate_bps=0, delivery_fee=0,
                    minimum_order=0, open=True, time_zone="UTC", opening_hours={})

    store.work(lambda r: r.store_settings.save(newer, T0 + timedelta(minutes=1)))

    assert store.read(lambda r: r.store_settings.get()) == newer


def test_saving_the_same_settings_twice_keeps_one(store):
    for minutes in (0, 1):
        store.work(lambda r, m=minutes: r.store_settings.save(SETTINGS, T0 + timedelta(minutes=m)))

    assert store.read(lambda r: r.store_settings.get()) == SETTINGS

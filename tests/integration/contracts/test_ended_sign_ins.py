"""EndedSignIns' contract: the memory fake and the SQLAlchemy adapter (SQLite and
PostgreSQL) remember signed-out sign-ins alike, until their time has passed."""

from __future__ import annotations

from datetime import timedelta

from tests.integration.contracts.conftest import T0


class TestEndedSignIns:
    def test_an_ended_sign_in_stays_ended_and_others_do_not(self, store):
        store.work(lambda r: r.ended_sign_ins.end("sign-in-1", T0 + timedelta(hours=12), T0))

        assert store.read(lambda r: r.ended_sign_ins.has_ended("sign-in-1")) is True
        assert store.read(lambda r: r.ended_sign_ins.has_ended("sign-in-2")) is False

    def test_ending_twice_is_harmless(self, store):
        for _ in range(2):
            store.work(lambda r: r.ended_sign_ins.end("sign-in-1", T0 + timedelta(hours=1), T0))

        assert store.read(lambda r: r.ended_sign_ins.has_ended("sign-in-1")) is True

    def test_records_past_their_time_are_dropped_when_another_ends(self, store):
        store.work(lambda r: r.ended_sign_ins.end("old", T0 + timedelta(hours=1), T0))
        later = T0 + timedelta(hours=2)

        store.work(lambda r: r.ended_sign_ins.end("new", later + timedelta(hours=1), later))

        assert store.read(lambda r: r.ended_sign_ins.has_ended("old")) is False
        assert store.read(lambda r: r.ended_sign_ins.has_ended("new")) is True

"""AuditLog's and AuditTrail's contract: the memory fake and the SQLAlchemy adapter (SQLite
and PostgreSQL) keep every event field for field, and list them newest first, filtered and
paged alike."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from minimart.domain.audit import AuditEvent, AuditQuery
from minimart.domain.ids import new_id
from minimart.domain.paging import PageAfter
from tests.integration.contracts.conftest import T0


def audit_events(store: Any, entity_id: str) -> list[AuditEvent]:
    return store.read(lambda r: r.audit.find(AuditQuery(entity_id=entity_id, limit=100)))


def event(event_id: str, at: datetime = T0, *, actor_id: str | None = "staff-1",
          entity_type: str = "item", entity_id: str = "item-1") -> AuditEvent:
    return AuditEvent(id=event_id, at=at, actor_id=actor_id, action=f"{entity_type}.updated",
                      entity_type=entity_type, entity_id=entity_id, changes={"n": [0, 1]})


def record(store: Any, *events: AuditEvent) -> None:
    store.work(lambda r: [r.audit.record(e) for e in events])


def ids(store: Any, **query: Any) -> list[str]:
    return [e.id for e in store.read(lambda r: r.audit.find(AuditQuery(**query)))]


class TestAuditLog:
    def test_a_recorded_event_reads_back_field_for_field(self, store):
        event = AuditEvent(
            id=new_id(), at=T0 + timedelta(microseconds=5), actor_id="staff-1",
            action="item.updated", entity_type="item", entity_id="item-1",
            changes={"price": [450, 500], "sku": [None, "SKU-1"], "featured": [False, True],
                     "name": ["Tea", "Thé vert"]},
            request_id="req-1")

        store.work(lambda r: r.audit.record(event))

        assert audit_events(store, "item-1") == [event]

    def test_events_without_actor_or_request_are_kept(self, store):
        event = AuditEvent(id=new_id(), at=T0, actor_id=None, action="item.archived",
                           entity_type="item", entity_id="item-2",
                           changes={"archived": [False, True]})

        store.work(lambda r: r.audit.record(event))

        assert audit_events(store, "item-2") == [event]

    def test_every_recorded_event_is_kept(self, store):
        events = [AuditEvent(id=new_id(), at=T0 + timedelta(seconds=n), actor_id=None,
                             action="item.stock_adjusted", entity_type="item",
                             entity_id="item-3", changes={"stock": [n, n + 1]})
                  for n in range(3)]

        store.work(lambda r: [r.audit.record(e) for e in events])

        assert sorted(audit_events(store, "item-3"), key=lambda e: e.at) == events


SECOND = timedelta(seconds=1)


class TestAuditTrail:
    @pytest.fixture
    def trail(self, store: Any) -> list[str]:
        """Five events, two pairs of them at the same moment; their ids newest first."""
        record(store, event("e1", T0), event("e2", T0 + SECOND), event("e4", T0 + SECOND),
               event("e3", T0 + 2 * SECOND), event("e5", T0 + 2 * SECOND))
        return ["e5", "e3", "e4", "e2", "e1"]

    def test_events_list_newest_first_and_the_larger_id_first_at_one_moment(
            self, store, trail):
        assert ids(store, limit=10) == trail

    def test_the_list_stops_at_the_limit_keeping_the_newest(self, store, trail):
        assert ids(store, limit=2) == trail[:2]
        assert ids(store, limit=1) == trail[:1]

    @pytest.mark.parametrize("limit", [1, 2, 3, 5])
    def test_walking_the_pages_after_the_last_event_yields_each_once_in_order(
            self, store, trail, limit):
        walked: list[str] = []
        after = None
        for _ in range(10):
            page = store.read(lambda r, after=after: r.audit.find(
                AuditQuery(limit=limit, after=after)))
            if not page:
                break
            walked += [e.id for e in page]
            after = PageAfter(page[-1].at, page[-1].id)

        assert walked == trail

    def test_after_leaves_out_the_event_it_names_and_every_newer_one(self, store, trail):
        assert ids(store, limit=10, after=PageAfter(T0 + SECOND, "e4")) == ["e2", "e1"]
        assert ids(store, limit=10, after=PageAfter(T0 + SECOND, "e3")) == ["e2", "e1"]
        assert ids(store, limit=10, after=PageAfter(T0, "e1")) == []

    def test_each_filter_keeps_only_its_events_and_they_combine(self, store):
        record(store,
               event("i1", T0, entity_id="item-1", actor_id="staff-1"),
               event("i2", T0 + SECOND, entity_id="item-2", actor_id="staff-2"),
               event("c1", T0 + 2 * SECOND, entity_type="category", entity_id="item-1",
                     actor_id="staff-1"),
               event("s1", T0 + 3 * SECOND, entity_type="item", entity_id="item-1",
                     actor_id=None))

        assert ids(store, entity_type="item") == ["s1", "i2", "i1"]
        assert ids(store, entity_id="item-1") == ["s1", "c1", "i1"]
        assert ids(store, actor_id="staff-1") == ["c1", "i1"]
        assert ids(store, entity_type="item", entity_id="item-1") == ["s1", "i1"]
        assert ids(store, entity_type="item", entity_id="item-1", actor_id="staff-1") == ["i1"]
        assert ids(store, entity_type="order") == []

    def test_a_filtered_walk_keeps_the_filter_on_every_page(self, store):
        record(store, *(event(f"e{n}", T0 + n * SECOND,
                              entity_id="item-1" if n % 2 else "item-2") for n in range(7)))

        first = store.read(lambda r: r.audit.find(AuditQuery(entity_id="item-1", limit=2)))
        after = PageAfter(first[-1].at, first[-1].id)

        assert [e.id for e in first] == ["e5", "e3"]
        assert ids(store, entity_id="item-1", limit=2, after=after) == ["e1"]

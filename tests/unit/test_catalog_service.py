"""CatalogService against the in-memory fakes: rules, permissions, paging and the audit trail."""

from __future__ import annotations

import pytest

from minimart.domain.actors import Actor, Role
from minimart.domain.catalog import MAX_PAGE_SIZE, ItemQuery, ItemSort, NewItem
from minimart.domain.errors import (
    Conflict,
    Forbidden,
    InsufficientStock,
    NotFound,
    PreconditionFailed,
)
from minimart.domain.money import Money
from tests.fakes.common import FixedClock
from tests.fakes.wiring import fake_adapters, fake_services

STAFF = Actor("staff-1", Role.STAFF, request_id="req-staff")
ADMIN = Actor("admin-1", Role.ADMIN, request_id="req-admin")
CUSTOMER = Actor("customer-1", Role.CUSTOMER, request_id="req-customer")
ANONYMOUS = Actor.anonymous(request_id="req-anon")
SHOPPERS = [pytest.param(CUSTOMER, id="customer"), pytest.param(ANONYMOUS, id="anonymous")]


@pytest.fixture
def clock():
    return FixedClock()


@pytest.fixture
def services(clock):
    return fake_services(adapters=fake_adapters(clock=clock))


@pytest.fixture
def items(services):
    return services.uow.items


@pytest.fixture
def audit(services):
    return services.uow.audit


@pytest.fixture
def catalog(services):
    return services.catalog


def make(catalog, name="Tea", price=450, stock=5, actor=STAFF, **fields):
    return catalog.create_item(NewItem(name=name, price=price, stock=stock, **fields), actor)


# --- creating ------------------------------------------------------------------
def test_create_item_stores_a_new_item_priced_in_the_store_currency(catalog, items, clock):
    item = make(catalog, name="Green tea", price=450, stock=7, description="Loose leaf",
                sku="TEA-1", featured=True)

    assert items.get(item.id) == item
    assert (item.name, item.description, item.sku, item.stock) == (
        "Green tea", "Loose leaf", "TEA-1", 7)
    assert item.price == Money(450, "usd")
    assert item.available and item.featured and not item.archived
    assert item.version == 1
    assert item.created_at == item.updated_at == clock.now()


def test_each_created_item_gets_its_own_id(catalog):
    assert make(catalog).id != make(catalog).id


def test_create_item_with_a_taken_sku_is_a_sku_taken_conflict(catalog, items, audit):
    first = make(catalog, name="First", sku="SKU-1")

    with pytest.raises(Conflict) as raised:
        make(catalog, name="Second", sku="SKU-1")

    assert raised.value.code == "sku_taken"
    assert items.count() == 1
    assert items.get_by_sku("SKU-1") == first
    assert len(audit.events) == 1


def test_items_without_a_sku_never_conflict(catalog, items):
    make(catalog, name="One")
    make(catalog, name="Two")

    assert items.count() == 2


@pytest.mark.parametrize("actor", SHOPPERS)
def test_shoppers_may_not_create_items(catalog, items, audit, actor):
    with pytest.raises(Forbidden):
        make(catalog, actor=actor)

    assert items.count() == 0
    assert audit.events == []


@pytest.mark.parametrize("actor", [pytest.param(STAFF, id="staff"), pytest.param(ADMIN, id="admin"),
                                   pytest.param(Actor.system(), id="system")])
def test_staff_admins_and_the_system_may_create_items(catalog, items, actor):
    make(catalog, actor=actor)

    assert items.count() == 1


def test_create_item_records_one_event_with_every_set_field(catalog, audit, clock):
    item = make(catalog, name="Tea", price=450, stock=5)

    [event] = audit.events
    assert (event.action, event.entity_type, event.entity_id) == ("item.created", "item", item.id)
    assert (event.actor_id, event.request_id, event.at) == ("staff-1", "req-staff", clock.now())
    assert event.changes == {
        "name": [None, "Tea"], "description": [None, ""], "price": [None, 450],
        "stock": [None, 5], "available": [None, True], "featured": [None, False]}


# --- updating ------------------------------------------------------------------
def test_update_item_changes_the_fields_and_bumps_version_and_updated_at(catalog, items, clock):
    item = make(catalog, name="Tea", price=450)
    clock.advance(minutes=5)

    updated = catalog.update_item(item.id, {"name": "Black tea", "price": 500}, STAFF)

    assert updated.name == "Black tea"
    assert updated.price == Money(500, "usd")
    assert updated.version == item.version + 1
    assert updated.updated_at == clock.now()
    assert updated.created_at == item.created_at
    assert items.get(item.id) == updated


def test_update_item_with_the_current_version_succeeds(catalog):
    item = make(catalog)

    updated = catalog.update_item(item.id, {"stock": 9}, STAFF, expected_version=item.version)

    assert updated.stock == 9


def test_update_item_with_a_stale_version_fails_and_changes_nothing(catalog, items, audit):
    item = make(catalog, name="Tea")
    current = catalog.update_item(item.id, {"name": "Someone else's edit"}, ADMIN)
    events_before = list(audit.events)

    with pytest.raises(PreconditionFailed) as raised:
        catalog.update_item(item.id, {"name": "My edit"}, STAFF, expected_version=item.version)

    assert raised.value.code == "precondition_failed"
    assert items.get(item.id) == current
    assert audit.events == events_before


def test_update_item_to_a_sku_held_by_another_item_is_a_sku_taken_conflict(catalog, items):
    make(catalog, name="Holder", sku="SKU-1")
    other = make(catalog, name="Other", sku="SKU-2")

    with pytest.raises(Conflict) as raised:
        catalog.update_item(other.id, {"sku": "SKU-1"}, STAFF)

    assert raised.value.code == "sku_taken"
    assert items.get(other.id) == other


def test_update_item_may_keep_its_own_sku(catalog):
    item = make(catalog, sku="SKU-1")

    updated = catalog.update_item(item.id, {"sku": "SKU-1", "name": "Renamed"}, STAFF)

    assert (updated.sku, updated.name) == ("SKU-1", "Renamed")


@pytest.mark.parametrize("field", ["archived", "version", "id", "created_at", "currency"])
def test_update_item_refuses_fields_that_are_not_editable(catalog, items, field):
    item = make(catalog)

    with pytest.raises(ValueError, match="not editable"):
        catalog.update_item(item.id, {field: "x"}, STAFF)

    assert items.get(item.id) == item


def test_update_of_a_missing_item_is_not_found(catalog):
    with pytest.raises(NotFound):
        catalog.update_item("no-such-item", {"name": "x"}, STAFF)


@pytest.mark.parametrize("actor", SHOPPERS)
def test_shoppers_may_not_update_items(catalog, items, actor):
    item = make(catalog)

    with pytest.raises(Forbidden):
        catalog.update_item(item.id, {"price": 1}, actor)

    assert items.get(item.id) == item


def test_update_item_records_only_the_fields_that_changed(catalog, audit):
    item = make(catalog, name="Tea", price=450, stock=5)
    audit.events.clear()

    catalog.update_item(item.id, {"name": "Tea", "price": 500, "featured": True}, ADMIN)

    [event] = audit.events
    assert (event.action, event.entity_id, event.actor_id, event.request_id) == (
        "item.updated", item.id, "admin-1", "req-admin")
    assert event.changes == {"price": [450, 500], "featured": [False, True]}


# --- stock ---------------------------------------------------------------------
def test_adjust_stock_adds_and_removes_stock(catalog, items, clock):
    item = make(catalog, stock=3)
    clock.advance(minutes=1)

    added = catalog.adjust_stock(item.id, 5, "delivery", STAFF)
    removed = catalog.adjust_stock(item.id, -2, "breakage", STAFF)

    assert (added.stock, removed.stock) == (8, 6)
    assert items.get(item.id).stock == 6
    assert removed.version == item.version + 2
    assert removed.updated_at == clock.now()


def test_adjust_stock_may_take_stock_exactly_to_zero(catalog):
    item = make(catalog, stock=3)

    assert catalog.adjust_stock(item.id, -3, "sold out", STAFF).stock == 0


def test_adjust_stock_never_goes_below_zero(catalog, items, audit):
    item = make(catalog, stock=3)
    audit.events.clear()

    with pytest.raises(InsufficientStock) as raised:
        catalog.adjust_stock(item.id, -4, "miscount", STAFF)

    assert raised.value.code == "insufficient_stock"
    assert isinstance(raised.value, Conflict)
    assert raised.value.details == {"item_id": item.id, "requested": 4, "available": 3}
    assert items.get(item.id) == item
    assert audit.events == []


def test_adjust_stock_of_a_missing_item_is_not_found(catalog):
    with pytest.raises(NotFound):
        catalog.adjust_stock("no-such-item", 1, "delivery", STAFF)


@pytest.mark.parametrize("actor", SHOPPERS)
def test_shoppers_may_not_adjust_stock(catalog, items, actor):
    item = make(catalog, stock=3)

    with pytest.raises(Forbidden):
        catalog.adjust_stock(item.id, 10, "free stock", actor)

    assert items.get(item.id).stock == 3


def test_adjust_stock_records_the_old_and_new_stock_the_delta_and_the_reason(catalog, audit):
    item = make(catalog, stock=3)
    audit.events.clear()

    catalog.adjust_stock(item.id, -2, "breakage", STAFF)

    [event] = audit.events
    assert (event.action, event.entity_type, event.entity_id, event.actor_id) == (
        "item.stock_adjusted", "item", item.id, "staff-1")
    assert event.changes == {"stock": [3, 1], "delta": [None, -2], "reason": [None, "breakage"]}


# --- archiving -----------------------------------------------------------------
def test_archive_item_marks_it_archived(catalog, items, clock):
    item = make(catalog)
    clock.advance(minutes=1)

    catalog.archive_item(item.id, STAFF)

    stored = items.get(item.id)
    assert stored.archived
    assert stored.updated_at == clock.now()
    assert stored.version == item.version + 1


def test_archiving_twice_is_harmless_and_recorded_once(catalog, items, audit):
    item = make(catalog)
    audit.events.clear()

    catalog.archive_item(item.id, STAFF)
    once = items.get(item.id)
    catalog.archive_item(item.id, STAFF)

    assert items.get(item.id) == once
    [event] = audit.events
    assert (event.action, event.entity_id, event.changes) == (
        "item.archived", item.id, {"archived": [False, True]})


@pytest.mark.parametrize("actor", SHOPPERS)
def test_an_archived_item_is_not_found_by_shoppers(catalog, actor):
    item = make(catalog)
    catalog.archive_item(item.id, STAFF)

    with pytest.raises(NotFound):
        catalog.get_item(item.id, actor)


@pytest.mark.parametrize("actor", [pytest.param(STAFF, id="staff"),
                                   pytest.param(ADMIN, id="admin")])
def test_an_archived_item_is_still_visible_to_staff(catalog, actor):
    item = make(catalog)
    catalog.archive_item(item.id, STAFF)

    assert catalog.get_item(item.id, actor).archived


def test_get_item_shows_a_live_item_to_anyone(catalog):
    item = make(catalog)

    assert catalog.get_item(item.id, ANONYMOUS) == item


def test_get_item_of_a_missing_item_is_not_found(catalog):
    with pytest.raises(NotFound):
        catalog.get_item("no-such-item", STAFF)


def test_archive_of_a_missing_item_is_not_found(catalog):
    with pytest.raises(NotFound):
        catalog.archive_item("no-such-item", STAFF)


@pytest.mark.parametrize("actor", SHOPPERS)
def test_shoppers_may_not_archive_items(catalog, items, audit, actor):
    item = make(catalog)
    audit.events.clear()

    with pytest.raises(Forbidden):
        catalog.archive_item(item.id, actor)

    assert not items.get(item.id).archived
    assert audit.events == []


@pytest.mark.parametrize("actor", SHOPPERS)
def test_archived_items_are_hidden_from_shoppers_even_when_they_ask(catalog, actor):
    live, gone = make(catalog, name="Live"), make(catalog, name="Gone")
    catalog.archive_item(gone.id, STAFF)

    page = catalog.list_items(ItemQuery(include_archived=True), actor)

    assert [i.id for i in page.entries] == [live.id]


def test_archived_items_are_listed_for_staff_only_when_asked(catalog):
    live, gone = make(catalog, name="Live"), make(catalog, name="Gone")
    catalog.archive_item(gone.id, STAFF)

    default = catalog.list_items(ItemQuery(), STAFF)
    asked = catalog.list_items(ItemQuery(include_archived=True), STAFF)

    assert [i.id for i in default.entries] == [live.id]
    assert {i.id for i in asked.entries} == {live.id, gone.id}


# --- every change is audited once ----------------------------------------------
def test_every_change_records_exactly_one_event_and_refusals_record_none(catalog, audit):
    item = make(catalog, stock=1, sku="A")
    make(catalog, sku="B")
    assert len(audit.events) == 2

    catalog.update_item(item.id, {"price": 1}, STAFF)
    assert len(audit.events) == 3
    catalog.adjust_stock(item.id, 4, "delivery", STAFF)
    assert len(audit.events) == 4
    catalog.archive_item(item.id, STAFF)
    assert len(audit.events) == 5

    refusals = [
        lambda: make(catalog, sku="A"),
        lambda: catalog.update_item(item.id, {"sku": "B"}, STAFF),
        lambda: catalog.update_item(item.id, {"price": 2}, STAFF, expected_version=1),
        lambda: catalog.adjust_stock(item.id, -100, "too many", STAFF),
        lambda: catalog.update_item(item.id, {"price": 3}, CUSTOMER),
    ]
    for refusal in refusals:
        with pytest.raises((Conflict, PreconditionFailed, Forbidden)):
            refusal()
    assert len(audit.events) == 5
    assert [e.action for e in audit.events] == [
        "item.created", "item.created", "item.updated", "item.stock_adjusted", "item.archived"]
    assert len({e.id for e in audit.events}) == 5


# --- listing -------------------------------------------------------------------
def ids(page):
    return [i.id for i in page.entries]


def test_list_matches_text_case_insensitively_in_name_and_description(catalog):
    by_name = make(catalog, name="Earl GREY Tea")
    by_description = make(catalog, name="Blend", description="a hint of grey bergamot")
    make(catalog, name="Coffee", description="dark roast")

    page = catalog.list_items(ItemQuery(text="gReY"), ANONYMOUS)

    assert set(ids(page)) == {by_name.id, by_description.id}


def test_list_price_bounds_are_inclusive(catalog):
    cheap, low, mid, high, dear = (make(catalog, name=str(p), price=p)
                                   for p in (99, 100, 150, 200, 201))

    page = catalog.list_items(ItemQuery(min_price=100, max_price=200, sort=ItemSort.PRICE),
                              ANONYMOUS)

    assert ids(page) == [low.id, mid.id, high.id]
    assert cheap.id not in ids(page) and dear.id not in ids(page)


def test_list_in_stock_leaves_out_items_with_no_stock(catalog):
    stocked, _empty = make(catalog, name="A", stock=1), make(catalog, name="B", stock=0)

    assert ids(catalog.list_items(ItemQuery(in_stock=True), ANONYMOUS)) == [stocked.id]
    assert len(catalog.list_items(ItemQuery(), ANONYMOUS).entries) == 2


def test_list_filters_on_available_and_featured_both_ways(catalog):
    plain = make(catalog, name="A")
    hidden = make(catalog, name="B", available=False)
    star = make(catalog, name="C", featured=True)

    def listed(**filters):
        return set(ids(catalog.list_items(ItemQuery(**filters), ANONYMOUS)))

    assert listed(available=True) == {plain.id, star.id}
    assert listed(available=False) == {hidden.id}
    assert listed(featured=True) == {star.id}
    assert listed(featured=False) == {plain.id, hidden.id}
    assert listed() == {plain.id, hidden.id, star.id}


def test_list_combines_filters(catalog):
    wanted = make(catalog, name="Green tea", price=300, stock=2, featured=True)
    make(catalog, name="Green tea bags", price=300, stock=0, featured=True)
    make(catalog, name="Green tea tin", price=900, stock=2, featured=True)
    make(catalog, name="Green tea sample", price=300, stock=2)

    page = catalog.list_items(ItemQuery(text="green", max_price=500, in_stock=True,
                                        featured=True), ANONYMOUS)

    assert ids(page) == [wanted.id]


def _expected_order(entries, sort):
    key = {"name": lambda i: i.name, "price": lambda i: i.price.amount,
           "created": lambda i: i.created_at}[sort.key]
    return [i.id for i in sorted(entries, key=lambda i: (key(i), i.id), reverse=sort.descending)]


@pytest.fixture
def many(catalog, clock):
    """Twenty-three items with ties on every sort key (names, prices and creation times)."""
    made = []
    for n in range(23):
        if n % 3 == 0:
            clock.advance(seconds=1)
        made.append(make(catalog, name=f"item {n % 7:02d}", price=100 * (n % 5), stock=n % 2))
    return made


def walk(catalog, query, actor=ANONYMOUS):
    pages, after = [], None
    for _ in range(100):
        page = catalog.list_items(ItemQuery(**{**query, "after": after}), actor)
        pages.append(ids(page))
        after = page.next_after
        if after is None:
            return pages
    raise AssertionError("paging never ended")


@pytest.mark.parametrize("sort", list(ItemSort), ids=[s.value for s in ItemSort])
@pytest.mark.parametrize("limit", [1, 4, 7, 23, 50])
def test_walking_every_page_of_a_sort_yields_the_full_sorted_list_once(catalog, many, sort,
                                                                       limit):
    pages = walk(catalog, {"sort": sort, "limit": limit})

    walked = [item_id for page in pages for item_id in page]
    assert walked == _expected_order(many, sort)
    assert len(set(walked)) == len(many)
    assert all(len(page) == limit for page in pages[:-1])
    assert 1 <= len(pages[-1]) <= limit


@pytest.mark.parametrize("sort", list(ItemSort), ids=[s.value for s in ItemSort])
def test_walking_the_pages_of_a_filtered_list_keeps_the_filter(catalog, many, sort):
    pages = walk(catalog, {"sort": sort, "limit": 3, "in_stock": True})

    walked = [item_id for page in pages for item_id in page]
    assert walked == _expected_order([i for i in many if i.stock > 0], sort)


def test_a_list_that_fills_its_last_page_exactly_has_no_next_page(catalog):
    for n in range(8):
        make(catalog, name=f"item {n}")

    pages = walk(catalog, {"limit": 4})

    assert [len(p) for p in pages] == [4, 4]


def test_an_empty_catalog_lists_one_empty_page(catalog):
    page = catalog.list_items(ItemQuery(), ANONYMOUS)

    assert (page.entries, page.next_after) == ([], None)


def test_next_after_names_the_last_item_of_the_page_and_its_sort_value(catalog, many):
    page = catalog.list_items(ItemQuery(sort=ItemSort.PRICE_DESC, limit=5), ANONYMOUS)

    last = page.entries[-1]
    assert page.next_after.id == last.id
    assert page.next_after.value == last.price.amount


def test_name_sort_ignores_letter_case(catalog):
    for name in ("Banana", "apple", "Cherry"):
        make(catalog, name=name)

    page = catalog.list_items(ItemQuery(sort=ItemSort.NAME), ANONYMOUS)

    assert [i.name for i in page.entries] == ["apple", "Banana", "Cherry"]


def test_the_page_size_is_capped_at_the_maximum(catalog):
    for n in range(MAX_PAGE_SIZE + 5):
        make(catalog, name=f"item {n:03d}")

    page = catalog.list_items(ItemQuery(limit=1000), ANONYMOUS)

    assert len(page.entries) == MAX_PAGE_SIZE
    assert page.next_after is not None


@pytest.mark.parametrize("limit", [0, -5])
def test_a_page_holds_at_least_one_item(catalog, limit):
    make(catalog, name="A")
    make(catalog, name="B")

    page = catalog.list_items(ItemQuery(limit=limit), ANONYMOUS)

    assert len(page.entries) == 1
    assert page.next_after is not None

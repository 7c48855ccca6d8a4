"""ItemRepository's contract: the memory fake and the SQLAlchemy adapter (SQLite and
PostgreSQL) store, filter, sort, page and count stock alike."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from minimart.domain.catalog import MAX_STOCK, Item, ItemQuery, ItemSort, sort_value
from minimart.domain.errors import Conflict
from minimart.domain.ids import new_id
from minimart.domain.money import Money
from minimart.domain.orders import Shortage
from minimart.domain.paging import PageAfter
from tests.integration.contracts.conftest import CURRENCY, T0, Repos, SqlStore, make_item

SORTS = pytest.mark.parametrize("sort", list(ItemSort), ids=[s.value for s in ItemSort])


def add_items(store: Any, *new_items: Item) -> None:
    def job(r: Repos) -> None:
        for item in new_items:
            r.items.add(item)
    store.work(job)


def listed(store: Any, **query: Any) -> list[str]:
    return [i.id for i in store.read(lambda r: r.items.find(ItemQuery(**query)))]


def names(store: Any, **query: Any) -> list[str]:
    return [i.name for i in store.read(lambda r: r.items.find(ItemQuery(**query)))]


def get(store: Any, item_id: str) -> Item | None:
    return store.read(lambda r: r.items.get(item_id))


def walk(store: Any, sort: ItemSort, limit: int, **query: Any) -> list[list[str]]:
    """Every page of a listing, each asked for with `after` = the previous page's last item."""
    pages: list[list[str]] = []
    after = None
    for _ in range(200):
        rows = store.read(lambda r, after=after: r.items.find(
            ItemQuery(sort=sort, limit=limit, after=after, **query)))
        if not rows:
            return pages
        pages.append([i.id for i in rows])
        after = PageAfter(sort_value(rows[-1], sort), rows[-1].id)
    raise AssertionError("paging never ended")


def expected_order(entries: list[Item], sort: ItemSort) -> list[str]:
    key = {"name": lambda i: i.name.lower(), "price": lambda i: i.price.amount,
           "created": lambda i: i.created_at}[sort.key]
    return [i.id for i in sorted(entries, key=lambda i: (key(i), i.id), reverse=sort.descending)]


class TestItemRepository:
    # --- add / get -------------------------------------------------------------------
    def test_an_added_item_reads_back_field_for_field_in_a_new_transaction(self, store):
        item = make_item("Green tea", 450, 7, sku="TEA-1", description="Loose leaf",
                         available=False, featured=True,
                         at=T0 + timedelta(microseconds=123456))

        add_items(store, item)

        assert get(store, item.id) == item
        assert store.read(lambda r: r.items.get_by_sku("TEA-1")) == item
        assert store.read(lambda r: r.items.count()) == 1

    def test_get_and_get_by_sku_of_missing_items_return_none(self, store):
        add_items(store, make_item(sku="TEA-1"))

        assert get(store, new_id()) is None
        assert store.read(lambda r: r.items.get_by_sku("TEA-2")) is None

    def test_adding_a_taken_sku_is_a_sku_taken_conflict_that_keeps_the_first(self, store):
        first = make_item("First", sku="SKU-1")
        add_items(store, first)

        with pytest.raises(Conflict) as raised:
            add_items(store, make_item("Second", sku="SKU-1"))

        assert raised.value.code == "sku_taken"
        assert store.read(lambda r: r.items.get_by_sku("SKU-1")) == first
        assert store.read(lambda r: r.items.count()) == 1

    def test_any_number_of_items_may_have_no_sku(self, store):
        add_items(store, make_item("A"), make_item("B"), make_item("C"))

        assert store.read(lambda r: r.items.count()) == 3

    # --- filters ---------------------------------------------------------------------
    def test_text_matches_name_and_description_ignoring_letter_case(self, store):
        by_name = make_item("Earl GREY")
        by_description = make_item("Blend", description="A hint of Grey bergamot")
        add_items(store, by_name, by_description, make_item("Coffee", description="dark roast"))

        assert set(listed(store, text="gReY")) == {by_name.id, by_description.id}
        assert set(listed(store, text="BERGAMOT")) == {by_description.id}
        assert listed(store, text="tea") == []

    def test_text_percent_sign_is_a_literal_not_a_wildcard(self, store):
        percent = make_item("100% juice")
        add_items(store, percent, make_item("1000 juice"), make_item("10 juices"))

        assert listed(store, text="0%") == [percent.id]
        assert listed(store, text="%") == [percent.id]

    def test_text_underscore_is_a_literal_not_a_wildcard(self, store):
        snake = make_item("Tin", description="snake_case label")
        add_items(store, snake, make_item("Box", description="snake case label"),
                  make_item("Jar", description="snakeXcase label"))

        assert listed(store, text="e_c") == [snake.id]
        assert listed(store, text="_") == [snake.id]

    @pytest.mark.parametrize("text", ["a/b", "a\\b", "[ab]"])
    def test_text_escape_characters_are_literals_too(self, store, text):
        wanted = make_item(f"x {text} y")
        add_items(store, wanted, make_item("x ab y"), make_item("x a b y"), make_item("x a y"))

        assert listed(store, text=text) == [wanted.id]

    def test_text_ignores_the_case_of_accented_letters_in_the_name(self, store):
        brulee = make_item("Crème BRÛLÉE")
        add_items(store, brulee, make_item("Custard"))

        assert listed(store, text="brûlée") == [brulee.id]

    def test_text_ignores_the_case_of_accented_letters_in_the_description(self, store):
        brulee = make_item("Dessert", description="Crème BRÛLÉE, torched")
        add_items(store, brulee, make_item("Custard", description="plain"))

        assert listed(store, text="brûlée") == [brulee.id]

    def test_price_bounds_are_inclusive(self, store):
        made = {p: make_item(f"at {p}", p) for p in (99, 100, 150, 200, 201)}
        add_items(store, *made.values())

        def prices(**bounds: int) -> list[int]:
            rows = store.read(lambda r: r.items.find(ItemQuery(sort=ItemSort.PRICE, **bounds)))
            return [i.price.amount for i in rows]

        assert prices(min_price=100, max_price=200) == [100, 150, 200]
        assert prices(min_price=200) == [200, 201]
        assert prices(max_price=100) == [99, 100]
        assert prices(min_price=150, max_price=150) == [150]
        assert prices(min_price=202) == []

    def test_in_stock_leaves_out_items_without_stock(self, store):
        stocked = make_item("A", stock=1)
        add_items(store, stocked, make_item("B", stock=0))

        assert listed(store, in_stock=True) == [stocked.id]
        assert len(listed(store)) == 2

    def test_available_and_featured_filter_both_ways(self, store):
        plain, hidden, star = (make_item("A"), make_item("B", available=False),
                               make_item("C", featured=True))
        add_items(store, plain, hidden, star)

        assert listed(store, available=True) == [plain.id, star.id]
        assert listed(store, available=False) == [hidden.id]
        assert listed(store, featured=True) == [star.id]
        assert listed(store, featured=False) == [plain.id, hidden.id]
        assert listed(store) == [plain.id, hidden.id, star.id]

    def test_archived_items_are_listed_only_when_included(self, store):
        live, gone = make_item("A"), make_item("B", archived=True)
        add_items(store, live, gone)

        assert listed(store) == [live.id]
        assert listed(store, include_archived=True) == [live.id, gone.id]
        assert listed(store, text="b") == []

    def test_filters_combine(self, store):
        wanted = make_item("Green tea", 300, 2, featured=True)
        add_items(store, wanted,
                  make_item("Green tea bags", 300, 0, featured=True),
                  make_item("Green tea tin", 900, 2, featured=True),
                  make_item("Green tea sample", 300, 2),
                  make_item("Green tea gone", 300, 2, featured=True, archived=True),
                  make_item("Green tea off", 300, 2, featured=True, available=False))

        assert listed(store, text="GREEN", max_price=500, in_stock=True, featured=True,
                      available=True) == [wanted.id]

    def test_list_returns_at_most_limit_items(self, store):
        add_items(store, *(make_item(f"item {n}") for n in range(5)))

        assert len(listed(store, limit=3)) == 3

    # --- sorting and keyset pages ----------------------------------------------------
    @pytest.fixture
    def many(self, store):
        """Twenty-five items with ties on every sort key, so the id decides between them."""
        made = [make_item(f"item {n % 6:02d}", 100 * (n % 4), n % 3,
                          at=T0 + timedelta(seconds=n // 4, microseconds=7 * (n % 2)))
                for n in range(25)]
        add_items(store, *made)
        return made

    @SORTS
    def test_every_sort_orders_by_its_key_then_id(self, store, many, sort):
        assert listed(store, sort=sort, limit=100) == expected_order(many, sort)

    @SORTS
    @pytest.mark.parametrize("limit", [1, 4, 10])
    def test_walking_every_page_after_the_last_item_yields_each_item_once_in_order(
            self, store, many, sort, limit):
        pages = walk(store, sort, limit)

        walked = [item_id for page in pages for item_id in page]
        assert walked == expected_order(many, sort)
        assert len(set(walked)) == len(walked)
        assert all(len(page) == limit for page in pages[:-1])

    @SORTS
    def test_walking_a_filtered_listing_keeps_the_filter_on_every_page(self, store, many, sort):
        pages = walk(store, sort, 3, in_stock=True, max_price=200)

        walked = [item_id for page in pages for item_id in page]
        kept = [i for i in many if i.stock > 0 and i.price.amount <= 200]
        assert walked == expected_order(kept, sort)

    def test_name_order_ignores_letter_case(self, store):
        add_items(store, *(make_item(n) for n in ("banana", "Apple", "cherry", "Date")))

        assert names(store, sort=ItemSort.NAME) == ["Apple", "banana", "cherry", "Date"]
        assert names(store, sort=ItemSort.NAME_DESC) == ["Date", "cherry", "banana", "Apple"]

    @pytest.mark.parametrize("sort", [ItemSort.NAME, ItemSort.NAME_DESC], ids=["name", "-name"])
    def test_walking_the_pages_of_mixed_case_names_yields_each_item_once_in_order(
            self, store, sort):
        made = [make_item(n) for n in ("banana", "Apple", "cherry", "Date", "apple", "BANANA")]
        add_items(store, *made)

        walked = [item_id for page in walk(store, sort, 1) for item_id in page]

        assert walked == expected_order(made, sort)

    # --- update ----------------------------------------------------------------------
    def test_update_with_the_expected_version_writes_every_field(self, store):
        item = make_item("Tea", 450, 5, sku="TEA-1")
        add_items(store, item)
        changed = replace(item, name="Black tea", price=Money(500, CURRENCY), stock=9,
                          sku="TEA-2", description="Strong", available=False, featured=True,
                          version=2, updated_at=T0 + timedelta(hours=1))

        assert store.work(lambda r: r.items.update(changed, expected_version=1)) is True

        assert get(store, item.id) == changed
        assert store.read(lambda r: r.items.get_by_sku("TEA-2")) == changed
        assert store.read(lambda r: r.items.get_by_sku("TEA-1")) is None
        assert names(store, text="black") == ["Black tea"]

    def test_update_with_a_stale_version_writes_nothing(self, store):
        item = make_item("Tea")
        add_items(store, item)

        written = store.work(lambda r: r.items.update(
            replace(item, name="Stale", version=3), expected_version=2))

        assert written is False
        assert get(store, item.id) == item

    def test_update_of_a_missing_item_writes_nothing(self, store):
        assert store.work(lambda r: r.items.update(make_item(), expected_version=1)) is False
        assert store.read(lambda r: r.items.count()) == 0

    def test_update_to_a_sku_held_by_another_item_is_a_sku_taken_conflict(self, store):
        holder, other = make_item("Holder", sku="SKU-1"), make_item("Other", sku="SKU-2")
        add_items(store, holder, other)

        with pytest.raises(Conflict) as raised:
            store.work(lambda r: r.items.update(replace(other, sku="SKU-1", version=2), 1))

        assert raised.value.code == "sku_taken"
        assert get(store, other.id) == other
        assert get(store, holder.id) == holder

    # --- stock -----------------------------------------------------------------------
    def test_adjust_stock_adds_and_removes_and_bumps_version_and_updated_at(self, store):
        item = make_item(stock=3)
        add_items(store, item)
        later = T0 + timedelta(minutes=5)

        added = store.work(lambda r: r.items.adjust_stock(item.id, 4, later))
        removed = store.work(lambda r: r.items.adjust_stock(item.id, -7, later))

        assert (added.stock, removed.stock) == (7, 0)
        stored = get(store, item.id)
        assert stored == removed
        assert (stored.stock, stored.version, stored.updated_at) == (0, 3, later)
        assert stored.created_at == item.created_at

    def test_adjust_stock_never_goes_below_zero(self, store):
        item = make_item(stock=3)
        add_items(store, item)

        result = store.work(lambda r: r.items.adjust_stock(item.id, -4, T0 + timedelta(1)))

        assert result is None
        assert get(store, item.id) == item

    def test_adjust_stock_never_goes_above_the_maximum(self, store):
        item = make_item(stock=MAX_STOCK - 5)
        add_items(store, item)

        assert store.work(lambda r: r.items.adjust_stock(item.id, 6, T0)) is None
        assert store.work(lambda r: r.items.adjust_stock(item.id, 5, T0)).stock == MAX_STOCK

    def test_released_stock_is_capped_at_the_maximum_and_never_overflows(self, store):
        """Units adjusted in while others were held: returning them must not overflow the
        column (an order that can never be cancelled, an expiry run that always fails)."""
        item = make_item(stock=MAX_STOCK - 1)
        add_items(store, item)

        store.work(lambda r: r.items.release_stock({item.id: 1000}, T0))
        store.work(lambda r: r.items.release_stock({item.id: MAX_STOCK}, T0))

        assert get(store, item.id).stock == MAX_STOCK

    def test_reserve_stock_reports_every_short_line_and_takes_nothing(self, store):
        plenty, few, none = make_item(stock=9), make_item(stock=2), make_item(stock=0)
        add_items(store, plenty, few, none)

        shortages = store.work(lambda r: r.items.reserve_stock(
            {plenty.id: 3, few.id: 3, none.id: 1}, T0))

        assert sorted(shortages, key=lambda s: s.item_id) == sorted(
            [Shortage(few.id, 3, 2), Shortage(none.id, 1, 0)], key=lambda s: s.item_id)
        assert [get(store, i.id).stock for i in (plenty, few, none)] == [9, 2, 0]

    def test_adjust_stock_of_a_missing_item_changes_nothing(self, store):
        assert store.work(lambda r: r.items.adjust_stock(new_id(), 5, T0)) is None
        assert store.read(lambda r: r.items.count()) == 0

    # --- archive ---------------------------------------------------------------------
    def test_archive_hides_the_item_and_bumps_version(self, store):
        item = make_item()
        add_items(store, item)
        later = T0 + timedelta(days=1)

        store.work(lambda r: r.items.archive(item.id, later))

        assert get(store, item.id) == replace(item, archived=True, version=2, updated_at=later)
        assert listed(store) == []


@pytest.mark.postgres
def test_twenty_concurrent_decrements_of_ten_in_stock_leave_exactly_zero(
        postgres_store: SqlStore):
    item = make_item(stock=10)
    add_items(postgres_store, item)
    start = threading.Barrier(20)

    def take_one(_: int) -> bool:
        start.wait(timeout=10)
        return postgres_store.work(
            lambda r: r.items.adjust_stock(item.id, -1, T0 + timedelta(minutes=1))) is not None

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(take_one, range(20)))

    assert results.count(True) == 10
    assert results.count(False) == 10
    stored = get(postgres_store, item.id)
    assert stored.stock == 0
    assert stored.version == item.version + 10

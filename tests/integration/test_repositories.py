"""Contract tests: the memory fakes and the SQLAlchemy adapters keep the same promises.

Every contract runs three times: on the memory fakes, on SQLAlchemy over SQLite and on
SQLAlchemy over PostgreSQL (the `database_url` fixture). SQL writes go through a
`transaction.TransactionManager` exactly as pyramid_tm runs them, and every check reads back
in a NEW transaction: zope.sqlalchemy rolls back Core writes that were not marked, so only a
read after the commit proves the write was kept.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import transaction
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from minimart.adapters.sqlalchemy.database import (
    make_engine,
    make_session_factory,
    schema_is_current,
    tm_session,
)
from minimart.adapters.sqlalchemy.repositories import (
    SqlAlchemyAccountRepository,
    SqlAlchemyAuditLog,
    SqlAlchemyEndedSignIns,
    SqlAlchemyItemRepository,
    SqlAlchemyLoginThrottle,
    SqlAlchemyRegistrationThrottle,
)
from minimart.adapters.sqlalchemy.tables import metadata
from minimart.domain.accounts import Account
from minimart.domain.actors import Role
from minimart.domain.audit import AuditEvent, AuditQuery
from minimart.domain.catalog import MAX_STOCK, Item, ItemQuery, ItemSort, sort_value
from minimart.domain.errors import Conflict
from minimart.domain.ids import new_id
from minimart.domain.money import Money
from minimart.domain.orders import Shortage
from minimart.domain.paging import PageAfter
from tests.fakes.accounts import MemoryAccountRepository, MemoryEndedSignIns, MemoryThrottle
from tests.fakes.catalog import MemoryItemRepository
from tests.fakes.common import MemoryAuditLog

CURRENCY = "usd"
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SORTS = pytest.mark.parametrize("sort", list(ItemSort), ids=[s.value for s in ItemSort])


def make_item(name: str = "Tea", price: int = 450, stock: int = 5, *, at: datetime = T0,
              **fields: Any) -> Item:
    return Item(id=fields.pop("id", new_id()), sku=fields.pop("sku", None), name=name,
                description=fields.pop("description", ""), price=Money(price, CURRENCY),
                stock=stock, created_at=at, updated_at=at, **fields)


def make_account(email: str = "shopper@example.com", **fields: Any) -> Account:
    return Account(id=fields.pop("id", new_id()), email=email, name=fields.pop("name", "Sam"),
                   role=fields.pop("role", Role.CUSTOMER),
                   password_hash=fields.pop("password_hash", "$argon2id$fake"),
                   created_at=fields.pop("created_at", T0), **fields)


@dataclass
class Repos:
    items: Any
    accounts: Any
    audit: Any
    ended_sign_ins: Any
    sign_ins: Any = None
    registrations: Any = None


class MemoryStore:
    """The memory fakes; they keep no transactions, so every 'transaction' sees the same."""

    def __init__(self) -> None:
        self.repos = Repos(MemoryItemRepository(), MemoryAccountRepository(), MemoryAuditLog(),
                           MemoryEndedSignIns(), MemoryThrottle(), MemoryThrottle())

    def work(self, job: Callable[[Repos], Any]) -> Any:
        return job(self.repos)

    read = work

    def audit_events(self, entity_id: str) -> list[AuditEvent]:
        return [e for e in self.repos.audit.events if e.entity_id == entity_id]

    def close(self) -> None:
        pass


class SqlStore:
    """The SQLAlchemy adapters; each call runs in its own transaction manager and session."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.factory = make_session_factory(self.engine)

    def _repos(self, manager: transaction.TransactionManager) -> Repos:
        session = tm_session(self.factory, manager)
        return Repos(SqlAlchemyItemRepository(session, CURRENCY),
                     SqlAlchemyAccountRepository(session), SqlAlchemyAuditLog(session),
                     SqlAlchemyEndedSignIns(session), SqlAlchemyLoginThrottle(session),
                     SqlAlchemyRegistrationThrottle(session))

    def work(self, job: Callable[[Repos], Any]) -> Any:
        """Run job in a transaction committed by the manager (aborted if job raises)."""
        manager = transaction.TransactionManager(explicit=True)
        with manager:
            return job(self._repos(manager))

    def read(self, job: Callable[[Repos], Any]) -> Any:
        """Run job in a new transaction that is rolled back afterwards."""
        manager = transaction.TransactionManager(explicit=True)
        manager.begin()
        try:
            return job(self._repos(manager))
        finally:
            manager.abort()

    def audit_events(self, entity_id: str) -> list[AuditEvent]:
        return self.read(lambda r: r.audit.list(AuditQuery(entity_id=entity_id, limit=100)))

    def close(self) -> None:
        self.engine.dispose()


def add_items(store: Any, *new_items: Item) -> None:
    def job(r: Repos) -> None:
        for item in new_items:
            r.items.add(item)
    store.work(job)


def listed(store: Any, **query: Any) -> list[str]:
    return [i.id for i in store.read(lambda r: r.items.list(ItemQuery(**query)))]


def names(store: Any, **query: Any) -> list[str]:
    return [i.name for i in store.read(lambda r: r.items.list(ItemQuery(**query)))]


def get(store: Any, item_id: str) -> Item | None:
    return store.read(lambda r: r.items.get(item_id))


def walk(store: Any, sort: ItemSort, limit: int, **query: Any) -> list[list[str]]:
    """Every page of a listing, each asked for with `after` = the previous page's last item."""
    pages: list[list[str]] = []
    after = None
    for _ in range(200):
        rows = store.read(lambda r, after=after: r.items.list(
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


# =====================================================================================
class ItemRepositoryContract:
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
            rows = store.read(lambda r: r.items.list(ItemQuery(sort=ItemSort.PRICE, **bounds)))
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


class AccountRepositoryContract:
    def test_an_added_account_reads_back_by_id_and_by_email(self, store):
        account = make_account("shopper@example.com", role=Role.STAFF, disabled=True,
                               created_at=T0 + timedelta(microseconds=42))

        store.work(lambda r: r.accounts.add(account))

        assert store.read(lambda r: r.accounts.get(account.id)) == account
        assert store.read(lambda r: r.accounts.get_by_email("shopper@example.com")) == account

    def test_missing_accounts_read_as_none(self, store):
        store.work(lambda r: r.accounts.add(make_account("a@example.com")))

        assert store.read(lambda r: r.accounts.get(new_id())) is None
        assert store.read(lambda r: r.accounts.get_by_email("b@example.com")) is None

    def test_adding_a_taken_email_is_an_email_taken_conflict_that_keeps_the_first(self, store):
        first = make_account("shopper@example.com", name="First")
        store.work(lambda r: r.accounts.add(first))

        with pytest.raises(Conflict) as raised:
            store.work(lambda r: r.accounts.add(make_account("shopper@example.com",
                                                             name="Second")))

        assert raised.value.code == "email_taken"
        assert store.read(lambda r: r.accounts.get_by_email("shopper@example.com")) == first

    def test_set_password_hash_replaces_only_the_hash(self, store):
        account = make_account()
        store.work(lambda r: r.accounts.add(account))

        store.work(lambda r: r.accounts.set_password_hash(account.id, "$argon2id$newer"))

        assert store.read(lambda r: r.accounts.get(account.id)) == replace(
            account, password_hash="$argon2id$newer")


    def test_a_totp_step_is_taken_once_and_only_newer_steps_after_it(self, store):
        account = make_account()
        store.work(lambda r: r.accounts.add(account))

        assert store.work(lambda r: r.accounts.use_totp_step(account.id, 1000)) is True
        assert store.work(lambda r: r.accounts.use_totp_step(account.id, 1000)) is False
        assert store.work(lambda r: r.accounts.use_totp_step(account.id, 999)) is False
        assert store.work(lambda r: r.accounts.use_totp_step(account.id, 1001)) is True
        assert store.read(lambda r: r.accounts.get(account.id)).totp_last_step == 1001

    def test_a_recovery_code_is_spent_once_and_the_others_stay(self, store):
        account = replace(make_account(), recovery_codes=("aa", "bb", "cc"))
        store.work(lambda r: r.accounts.add(account))

        assert store.work(lambda r: r.accounts.spend_recovery_code(account.id, "bb")) is True
        assert store.work(lambda r: r.accounts.spend_recovery_code(account.id, "bb")) is False
        assert store.work(lambda r: r.accounts.spend_recovery_code(account.id, "zz")) is False
        assert store.read(lambda r: r.accounts.get(account.id)).recovery_codes == ("aa", "cc")


class AuditLogContract:
    def test_a_recorded_event_reads_back_field_for_field(self, store):
        event = AuditEvent(
            id=new_id(), at=T0 + timedelta(microseconds=5), actor_id="staff-1",
            action="item.updated", entity_type="item", entity_id="item-1",
            changes={"price": [450, 500], "sku": [None, "SKU-1"], "featured": [False, True],
                     "name": ["Tea", "Thé vert"]},
            request_id="req-1")

        store.work(lambda r: r.audit.record(event))

        assert store.audit_events("item-1") == [event]

    def test_events_without_actor_or_request_are_kept(self, store):
        event = AuditEvent(id=new_id(), at=T0, actor_id=None, action="item.archived",
                           entity_type="item", entity_id="item-2",
                           changes={"archived": [False, True]})

        store.work(lambda r: r.audit.record(event))

        assert store.audit_events("item-2") == [event]

    def test_every_recorded_event_is_kept(self, store):
        events = [AuditEvent(id=new_id(), at=T0 + timedelta(seconds=n), actor_id=None,
                             action="item.stock_adjusted", entity_type="item",
                             entity_id="item-3", changes={"stock": [n, n + 1]})
                  for n in range(3)]

        store.work(lambda r: [r.audit.record(e) for e in events])

        assert sorted(store.audit_events("item-3"), key=lambda e: e.at) == events


class EndedSignInsContract:
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


WINDOW = timedelta(minutes=15)
THROTTLES = pytest.mark.parametrize("which", ["sign_ins", "registrations"])


def take(store: Any, which: str, key: str = "address:203.0.113.7", limit: int = 3,
         at: datetime = T0) -> datetime | None:
    return store.work(lambda r: getattr(r, which).take(key, limit, at, WINDOW))


def takes(store: Any, which: str, times: int, **given: Any) -> list[datetime | None]:
    return [take(store, which, **given) for _ in range(times)]


class ThrottleContract:
    @pytest.fixture(params=["sign_ins", "registrations"])
    def which(self, request: pytest.FixtureRequest) -> str:
        """The login throttle and the registration throttle keep the same promises."""
        return request.param

    def test_attempts_count_up_to_the_limit_then_are_refused_until_the_window_ends(
            self, store, which):
        assert takes(store, which, 3) == [None] * 3

        assert take(store, which) == T0 + WINDOW
        assert take(store, which, at=T0 + timedelta(minutes=5)) == T0 + WINDOW

    def test_a_refused_attempt_counts_nothing(self, store, which):
        takes(store, which, 5)
        store.work(lambda r: getattr(r, which).give_back("address:203.0.113.7"))

        assert take(store, which) is None
        assert take(store, which) == T0 + WINDOW

    def test_a_new_window_starts_when_the_old_one_has_passed(self, store, which):
        takes(store, which, 3)
        assert take(store, which, at=T0 + WINDOW - timedelta(seconds=1)) == T0 + WINDOW

        later = T0 + WINDOW
        assert takes(store, which, 3, at=later) == [None] * 3
        assert take(store, which, at=later) == later + WINDOW

    def test_a_limit_lower_than_the_count_refuses(self, store, which):
        takes(store, which, 3, limit=10)

        assert take(store, which, limit=3) == T0 + WINDOW
        assert take(store, which, limit=4) is None

    def test_give_back_uncounts_one_and_a_count_of_none_is_forgotten(self, store, which):
        takes(store, which, 2)
        for _ in range(3):  # once more than counted: harmless
            store.work(lambda r: getattr(r, which).give_back("address:203.0.113.7"))

        assert takes(store, which, 3) == [None] * 3
        assert take(store, which) == T0 + WINDOW

    def test_giving_back_keeps_the_windows_start(self, store, which):
        takes(store, which, 3)
        store.work(lambda r: getattr(r, which).give_back("address:203.0.113.7"))

        assert take(store, which, at=T0 + timedelta(minutes=10)) is None
        assert take(store, which, at=T0 + timedelta(minutes=10)) == T0 + WINDOW

    def test_clear_forgets_the_count(self, store, which):
        takes(store, which, 3)
        store.work(lambda r: getattr(r, which).clear("address:203.0.113.7"))

        assert takes(store, which, 3) == [None] * 3

    def test_keys_and_throttles_are_counted_apart(self, store, which):
        other = "registrations" if which == "sign_ins" else "sign_ins"
        takes(store, which, 3)

        assert take(store, which, key="address:198.51.100.2") is None
        assert take(store, which, key="account:shopper@example.com") is None
        assert take(store, other) is None


PAIR = "account:shopper@example.com from:203.0.113.7"


def back_off(store: Any, at: datetime = T0, key: str = PAIR) -> datetime | None:
    """Two free attempts, then a wait of a minute doubling per attempt; a day forgets."""
    return store.work(lambda r: r.sign_ins.back_off(
        key, at, lambda n: timedelta(0) if n < 2 else timedelta(minutes=2 ** (n - 2)),
        timedelta(days=1)))


class BackOffContract:
    def test_attempts_past_the_free_ones_wait_longer_each_time(self, store):
        assert [back_off(store), back_off(store)] == [None, None]
        assert back_off(store) == T0 + timedelta(minutes=1)
        assert back_off(store, T0 + timedelta(minutes=1)) is None
        assert back_off(store, T0 + timedelta(minutes=2)) == T0 + timedelta(minutes=3)
        assert back_off(store, T0 + timedelta(minutes=3)) is None
        assert back_off(store, T0 + timedelta(minutes=3)) == T0 + timedelta(minutes=7)

    def test_an_attempt_dated_before_the_last_one_within_the_free_ones_counts(self, store):
        """Processes' clocks differ a little: a free attempt is never refused for that."""
        back_off(store, T0 + timedelta(seconds=1))

        assert back_off(store, T0) is None
        assert back_off(store, T0) == T0 + timedelta(seconds=61)  # from the latest

    def test_a_key_quiet_for_a_day_starts_again(self, store):
        for at in (T0, T0, T0):
            back_off(store, at)

        later = T0 + timedelta(days=1)
        assert [back_off(store, later), back_off(store, later)] == [None, None]
        assert back_off(store, later) == later + timedelta(minutes=1)

    def test_clear_prefixed_forgets_one_accounts_keys_only(self, store):
        keys = ["account:a_b@example.com", "account:a_b@example.com from:203.0.113.7",
                "account:a_b@example.com from:198.51.100.2", "account:axb@example.com",
                "account:axb@example.com from:203.0.113.7", "account:a_b@example.com.au",
                "address:203.0.113.7"]
        for key in keys:
            back_off(store, key=key)

        cleared = store.work(lambda r: r.sign_ins.clear_prefixed(
            "account:a_b@example.com", "account:a_b@example.com from:"))

        assert cleared == 3
        assert [back_off(store, key=key) for key in keys] == [None] * 3 + [None] * 4
        assert [back_off(store, key=key) for key in keys[3:]] == [T0 + timedelta(minutes=1)] * 4

    def test_forget_before_drops_only_older_counters(self, store):
        old = "address:192.0.2.1"  # keys of its own: the racing tests share the database
        take(store, "sign_ins", key=old)
        back_off(store, T0 + timedelta(hours=1))
        take(store, "registrations", key=old, at=T0 + timedelta(hours=1))

        forgot = store.work(lambda r: r.sign_ins.forget_before(T0 + timedelta(minutes=30)))

        assert forgot == 1
        assert takes(store, "sign_ins", 3, key=old) == [None, None, None]  # a fresh window
        assert back_off(store, T0 + timedelta(hours=1)) is None
        assert back_off(store, T0 + timedelta(hours=1)) == T0 + timedelta(hours=1, minutes=1)


class Contracts(ItemRepositoryContract, AccountRepositoryContract, AuditLogContract,
                EndedSignInsContract, ThrottleContract, BackOffContract):
    pass


class TestMemoryAdapters(Contracts):
    @pytest.fixture
    def store(self):
        return MemoryStore()


class TestSqlAlchemyAdapters(Contracts):
    @pytest.fixture
    def store(self, database_url):
        store = SqlStore(database_url)
        yield store
        store.close()

    def test_a_transaction_that_fails_keeps_none_of_its_writes(self, store):
        item = make_item()
        account = make_account()

        def job(r: Repos) -> None:
            r.items.add(item)
            r.accounts.add(account)
            r.audit.record(AuditEvent(id=new_id(), at=T0, actor_id=None, action="item.created",
                                      entity_type="item", entity_id=item.id))
            raise RuntimeError("something after the writes failed")

        with pytest.raises(RuntimeError):
            store.work(job)

        assert get(store, item.id) is None
        assert store.read(lambda r: r.accounts.get(account.id)) is None
        assert store.audit_events(item.id) == []

    def test_writes_are_invisible_to_others_until_committed(self, store):
        item = make_item()
        manager = transaction.TransactionManager(explicit=True)
        manager.begin()
        try:
            store._repos(manager).items.add(item)
            assert get(store, item.id) is None
        except BaseException:
            manager.abort()
            raise
        manager.commit()

        assert get(store, item.id) == item

    def test_the_migrated_schema_is_current(self, store):
        assert schema_is_current(store.engine)

    def test_the_alembic_migrations_build_exactly_the_tables_of_tables_py(self, store):
        with store.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={
                "compare_type": True, "compare_server_default": True})
            differences = compare_metadata(context, metadata)

        assert differences == []


# --- concurrency (PostgreSQL) ------------------------------------------------------------
@pytest.fixture
def postgres_store(postgres_url: str) -> Iterator[SqlStore]:
    store = SqlStore(postgres_url)
    yield store
    store.close()


@pytest.mark.postgres
@THROTTLES
def test_of_forty_racing_attempts_exactly_the_limits_worth_are_counted(postgres_store, which):
    start = threading.Barrier(40)

    def attempt(_: int) -> datetime | None:
        start.wait(timeout=10)
        return take(postgres_store, which, limit=5)

    with ThreadPoolExecutor(max_workers=40) as pool:
        results = list(pool.map(attempt, range(40)))

    assert results.count(None) == 5
    assert results.count(T0 + WINDOW) == 35


@pytest.mark.postgres
def test_of_forty_racing_attempts_of_a_pair_only_the_free_ones_are_counted(postgres_store):
    start = threading.Barrier(40)

    def attempt(_: int) -> datetime | None:
        start.wait(timeout=10)
        return back_off(postgres_store, key="account:racing@example.com from:203.0.113.7")

    with ThreadPoolExecutor(max_workers=40) as pool:
        results = list(pool.map(attempt, range(40)))

    assert results.count(None) == 2
    assert results.count(T0 + timedelta(minutes=1)) == 38


@pytest.mark.postgres
def test_twenty_concurrent_decrements_of_ten_in_stock_leave_exactly_zero(postgres_store):
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

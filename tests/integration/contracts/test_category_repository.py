"""CategoryRepository's contract: the memory fake and the SQLAlchemy adapter (SQLite and
PostgreSQL) keep names unique whatever their case, order by position, count the items shown
and empty a deleted category alike."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from minimart.domain.categories import Category, name_key
from minimart.domain.errors import Conflict
from minimart.domain.ids import new_id
from tests.integration.contracts.conftest import T0, make_item


def make_category(name: str = "Teas", position: int = 1, **fields: Any) -> Category:
    return Category(id=fields.pop("id", new_id()), name=name,
                    description=fields.pop("description", ""), position=position,
                    created_at=fields.pop("created_at", T0),
                    updated_at=fields.pop("updated_at", T0), **fields)


def add(store: Any, *categories: Category) -> None:
    store.work(lambda r: [r.categories.add(c) for c in categories])


def get(store: Any, category_id: str) -> Category | None:
    return store.read(lambda r: r.categories.get(category_id))


def listed(store: Any) -> list[tuple[str, int]]:
    """(name, item_count) of every category, in the order listed."""
    return [(c.name, c.item_count) for c in store.read(lambda r: r.categories.list_with_counts())]


def test_an_added_category_reads_back_field_for_field_with_no_items(store):
    category = make_category("Green teas", 3, description="Loose leaf",
                             created_at=T0 + timedelta(microseconds=7),
                             updated_at=T0 + timedelta(seconds=1))

    add(store, category)

    assert get(store, category.id) == category
    assert get(store, category.id).item_count == 0


def test_a_missing_category_reads_as_none_and_is_not_held(store):
    add(store, make_category())

    assert get(store, new_id()) is None
    assert store.work(lambda r: r.categories.hold(new_id())) is False


def test_an_existing_category_is_held(store):
    category = make_category()
    add(store, category)

    assert store.work(lambda r: r.categories.hold(category.id)) is True


def test_categories_list_in_position_order_then_by_id(store):
    a, b = sorted([new_id(), new_id()])
    add(store, make_category("Third", 5), make_category("Tie b", 2, id=b),
        make_category("First", 1), make_category("Tie a", 2, id=a))

    assert [name for name, _ in listed(store)] == ["First", "Tie a", "Tie b", "Third"]


def test_each_category_counts_its_items_that_are_not_archived(store):
    teas, cakes, empty = make_category("Teas", 1), make_category("Cakes", 2), \
        make_category("Empty", 3)
    add(store, teas, cakes, empty)
    store.work(lambda r: [r.items.add(i) for i in (
        make_item("Green", category_id=teas.id), make_item("Black", category_id=teas.id),
        make_item("Old", category_id=teas.id, archived=True),
        make_item("Sponge", category_id=cakes.id), make_item("Loose"))])

    assert listed(store) == [("Teas", 2), ("Cakes", 1), ("Empty", 0)]
    assert get(store, teas.id).item_count == 2


def test_the_next_position_follows_the_highest(store):
    assert store.read(lambda r: r.categories.next_position()) == 1

    add(store, make_category("A", 3), make_category("B", 7), make_category("C", 2))

    assert store.read(lambda r: r.categories.next_position()) == 8


@pytest.mark.parametrize("other", ["teas", "TEAS", "  Teas ", "TeaS"])
def test_a_name_taken_whatever_its_case_or_spaces_is_a_name_taken_conflict(store, other):
    first = make_category("Teas")
    add(store, first)

    with pytest.raises(Conflict) as raised:
        add(store, make_category(other, 2))

    assert raised.value.code == "name_taken"
    assert [c.id for c in store.read(lambda r: r.categories.list_with_counts())] == [first.id]


def test_name_taken_tells_by_name_key_and_leaves_out_the_category_asked_about(store):
    teas = make_category("Teas")
    add(store, teas)

    def taken(key: str, except_id: str | None = None) -> bool:
        return store.read(lambda r: r.categories.name_taken(key, except_id))

    assert taken(name_key(" TEAS ")) is True
    assert taken(name_key("Teas"), except_id=teas.id) is False
    assert taken(name_key("Teas"), except_id=new_id()) is True
    assert taken(name_key("Tea")) is False


def test_update_writes_the_changes(store):
    category = make_category("Teas", 1)
    add(store, category)
    changed = replace(category, name="Herbal teas", description="No caffeine", position=4,
                      updated_at=T0 + timedelta(hours=1))

    store.work(lambda r: r.categories.update(changed))

    assert get(store, category.id) == changed
    assert store.read(lambda r: r.categories.name_taken(name_key("Teas"))) is False


def test_a_category_may_change_the_case_of_its_own_name(store):
    category = make_category("teas")
    add(store, category)

    store.work(lambda r: r.categories.update(replace(category, name="TEAS")))

    assert get(store, category.id).name == "TEAS"


def test_renaming_to_another_categorys_name_is_a_conflict_that_changes_nothing(store):
    teas, cakes = make_category("Teas", 1), make_category("Cakes", 2)
    add(store, teas, cakes)

    with pytest.raises(Conflict) as raised:
        store.work(lambda r: r.categories.update(replace(cakes, name="TEAS", position=9)))

    assert raised.value.code == "name_taken"
    assert get(store, cakes.id) == cakes


def test_delete_takes_every_item_out_and_counts_them(store):
    teas, cakes = make_category("Teas", 1), make_category("Cakes", 2)
    add(store, teas, cakes)
    members = [make_item("Green", category_id=teas.id),
               make_item("Old", category_id=teas.id, archived=True)]
    sponge = make_item("Sponge", category_id=cakes.id)
    store.work(lambda r: [r.items.add(i) for i in [*members, sponge]])
    later = T0 + timedelta(days=1)

    emptied = store.work(lambda r: r.categories.delete(teas.id, later))

    assert emptied == 2
    assert get(store, teas.id) is None
    for item in members:
        assert store.read(lambda r, item=item: r.items.get(item.id)) == replace(
            item, category_id=None, version=item.version + 1, updated_at=later)
    assert store.read(lambda r: r.items.get(sponge.id)) == sponge
    assert listed(store) == [("Cakes", 1)]


def test_deleting_an_empty_category_counts_none_and_frees_its_name(store):
    teas = make_category("Teas")
    add(store, teas)

    assert store.work(lambda r: r.categories.delete(teas.id, T0)) == 0

    add(store, make_category("TEAS"))
    assert listed(store) == [("TEAS", 0)]

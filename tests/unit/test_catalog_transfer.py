"""CatalogTransfer against the in-memory fakes, rows loaded by the CLI's API-schema loader;
and the CSV cell escaping that keeps formulas out of spreadsheets."""

from __future__ import annotations

import pytest

from minimart.domain.actors import Actor, Role
from minimart.domain.catalog import NewItem
from minimart.domain.errors import ValidationFailed
from minimart.domain.ports.catalog import ItemRepository
from minimart.domain.services.catalog import CatalogService
from minimart.domain.services.catalog_transfer import CatalogTransfer
from minimart.domain.services.wiring import Services
from minimart.entrypoints.catalog_csv import escape_cell, load_fields, unescape_cell
from tests.fakes.wiring import fake_services

STAFF = Actor("staff-1", Role.STAFF)


@pytest.fixture
def services() -> Services:
    return fake_services()


@pytest.fixture
def items(services: Services) -> ItemRepository:
    return services.uow.items


@pytest.fixture
def catalog(services: Services) -> CatalogService:
    return services.catalog


@pytest.fixture
def transfer(services: Services) -> CatalogTransfer:
    return services.transfer


def rows(*cells: dict[str, str]) -> list[tuple[int, dict[str, str]]]:
    return [(line, row) for line, row in enumerate(cells, start=2)]


def exported(transfer: CatalogTransfer) -> list[dict[str, str]]:
    return list(transfer.export_rows(STAFF))


def test_an_export_row_changed_by_an_order_since_is_refused_and_nothing_is_written(
        transfer, catalog):
    jam = catalog.create_item(NewItem(name="Jam", price=300, stock=10), STAFF)
    tea = catalog.create_item(NewItem(name="Tea", price=200, stock=5), STAFF)
    [jam_row, tea_row] = exported(transfer)
    catalog.adjust_stock(jam.id, -3, "order", STAFF)  # as a reservation does

    report = transfer.import_rows(rows({**tea_row, "price": "250"}, jam_row), STAFF,
                                  load_fields)

    assert [(r.line, r.reasons) for r in report.rejected] == [
        (3, ["version: the item changed since the export (version 1 there, 2 now): "
             "export again and redo this line"])]
    assert (catalog.get_item(jam.id, STAFF).stock,
            catalog.get_item(tea.id, STAFF).price.amount) == (7, 200)


def test_a_row_without_a_version_may_change_an_item_but_not_its_stock(transfer, catalog):
    catalog.create_item(NewItem(name="Jam", price=300, stock=10, sku="JAM"), STAFF)

    refused = transfer.import_rows(rows({"sku": "JAM", "stock": "12"}), STAFF, load_fields)
    report = transfer.import_rows(rows({"sku": "JAM", "price": "350", "stock": "10"}), STAFF,
                                  load_fields)

    assert [r.reasons[0].split(":")[0] for r in refused.rejected] == ["stock"]
    assert (report.updated, report.rejected) == (1, [])
    item = catalog.find_by_sku("JAM")
    assert item is not None and (item.price.amount, item.stock) == (350, 10)


def test_an_unchanged_row_passes_whatever_its_version(transfer, catalog):
    jam = catalog.create_item(NewItem(name="Jam", price=300, stock=10), STAFF)
    [row] = exported(transfer)
    catalog.adjust_stock(jam.id, -3, "order", STAFF)

    report = transfer.import_rows(rows({**row, "stock": "7"}), STAFF, load_fields)

    assert (report.unchanged, report.rejected) == (1, [])


def test_an_id_or_version_naming_no_item_is_refused_not_created(transfer, catalog, items):
    report = transfer.import_rows(rows({"id": "gone", "name": "Jam", "price": "1"},
                                       {"sku": "NEW", "name": "Tea", "price": "1",
                                        "version": "3"}), STAFF, load_fields)

    assert [(r.line, r.reasons[0].split(":")[0]) for r in report.rejected] == [
        (2, "id"), (3, "version")]
    assert items.count() == 0


def test_two_rows_naming_one_item_are_refused(transfer, catalog):
    jam = catalog.create_item(NewItem(name="Jam", price=300, sku="JAM"), STAFF)

    report = transfer.import_rows(rows({"id": jam.id, "price": "1"},
                                       {"sku": "JAM", "price": "2"}), STAFF, load_fields)

    assert [(r.line, r.reasons) for r in report.rejected] == [
        (3, [f"id {jam.id} repeats line 2"])]
    assert catalog.get_item(jam.id, STAFF).price.amount == 300


def test_a_file_with_one_bad_row_writes_none_of_the_good_ones(transfer, items):
    report = transfer.import_rows(rows({"name": "Jam", "price": "300"},
                                       {"name": "Gold", "price": str(2**63 - 1)}), STAFF,
                                  load_fields)

    assert [r.line for r in report.rejected] == [3]
    assert items.count() == 0


@pytest.mark.parametrize(("cells", "creating", "field"), [
    ({"name": "Gold", "price": str(2**63 - 1)}, True, "price"),
    ({"name": "Gold", "price": "1" + "0" * 20}, True, "price"),
    ({"stock": str(10**14)}, False, "stock"),
    ({"sku": "has space"}, False, "sku"),
    ({"name": ""}, False, "name"),
    ({"price": "12.5"}, False, "price"),
    ({"featured": "maybe"}, False, "featured"),
    ({"name": "Te\x00a", "price": "1"}, True, "name"),
    ({"price": "1"}, True, "name"),
    ({"name": "x", "price": "1", "category": "c" * 121}, True, "category"),
])
def test_load_fields_refuses_what_the_api_refuses(cells, creating, field):
    with pytest.raises(ValidationFailed) as refused:
        load_fields(cells, creating)
    assert list(refused.value.details) == [field]


def test_load_fields_reads_blank_number_and_flag_cells_as_not_given():
    assert load_fields({"name": "Tea", "price": "450", "stock": "", "available": "",
                        "sku": "", "category": " Drinks "}, True) == {
        "name": "Tea", "price": 450, "sku": None, "category": "Drinks"}
    assert load_fields({"stock": " ", "featured": "yes"}, False) == {"featured": True}


@pytest.mark.parametrize("text", [
    "=1+1", "+1", "-1", "@A1", "\tx", "\rx", "'=x", "''+x", "'", "'Tis", "plain", "", "a=b",
])
def test_escaping_keeps_formulas_out_and_reads_back_every_text(text):
    escaped = escape_cell(text)
    assert escaped[:1] not in ("=", "+", "-", "@", "\t", "\r")
    assert unescape_cell(escaped) == text


def test_a_category_is_matched_whatever_its_letter_case(transfer, catalog):
    report = transfer.import_rows(rows({"name": "Tea", "price": "1", "category": "Drinks"},
                                       {"name": "Jam", "price": "1", "category": "DRINKS"}),
                                  STAFF, load_fields)

    assert (report.created, report.rejected) == (2, [])
    first, second = (catalog.get_item(row["id"], STAFF) for row in exported(transfer))
    assert first.category_id == second.category_id is not None

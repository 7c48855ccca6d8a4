"""`minimart import-items` / `export-items`: the catalog as CSV, all or nothing, under the
API's rules; on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from minimart import make_app
from minimart.domain.actors import Actor, Role
from minimart.domain.catalog import NewItem
from minimart.domain.orders import PlaceOrder, RequestedLine
from minimart.entrypoints.cli import main
from tests.functional.cli_inis import ini_for

PRICE_RANGE = "price: Must be greater than or equal to 0 and less than or equal to 1000000000000."
STOCK_RANGE = "stock: Must be greater than or equal to 0 and less than or equal to 1000000000."


@pytest.fixture
def ini(tmp_path: Path, app_settings: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> str:
    """An ini on the test database (each backend in turn), already migrated and emptied."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return ini_for(tmp_path / "csv.ini", app_settings)


@pytest.fixture
def app(ini: str, app_settings: dict[str, Any]) -> Iterator[Any]:
    wsgi = make_app(app_settings, environ={})
    yield wsgi
    wsgi.registry.container.engine.dispose()


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> str:
    with path.open("w", newline="") as target:
        writer = csv.writer(target)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as source:
        return list(csv.DictReader(source))


def query(ini: str, sql: str) -> list[Any]:
    url = next(line.split(" = ", 1)[1] for line in Path(ini).read_text().splitlines()
               if line.startswith("minimart.database_url"))
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(sql)))
    finally:
        engine.dispose()


def count(ini: str, sql: str) -> int:
    return query(ini, sql)[0][0]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_import_creates_items_and_categories_then_a_second_run_changes_nothing(
        ini, tmp_path, capsys):
    source = write_csv(tmp_path / "items.csv",
                       ["sku", "name", "price", "stock", "featured", "category"],
                       [["TEA-1", "Green tea", 450, 10, "true", "Drinks"],
                        ["TEA-2", "Black tea", 400, 0, "false", "Drinks"],
                        ["CAKE", "Cake", 300, 4, "", "Desserts"]])

    assert main(["-c", ini, "import-items", source]) == 0
    assert "3 created" in capsys.readouterr().out
    assert count(ini, "SELECT count(*) FROM items") == 3
    assert count(ini, "SELECT count(*) FROM categories") == 2
    assert count(ini, "SELECT count(*) FROM items WHERE featured") == 1

    assert main(["-c", ini, "import-items", source]) == 0
    assert "3 unchanged" in capsys.readouterr().out
    assert count(ini, "SELECT count(*) FROM items") == 3


def test_import_updates_items_matched_by_sku(ini, tmp_path, capsys):
    main(["-c", ini, "import-items", write_csv(tmp_path / "a.csv", ["sku", "name", "price"],
                                               [["TEA-1", "Green tea", 450]])])
    assert main(["-c", ini, "import-items", write_csv(
        tmp_path / "b.csv", ["sku", "name", "price"], [["TEA-1", "Green tea", 475]])]) == 0
    assert "1 updated" in capsys.readouterr().out
    assert count(ini, "SELECT price FROM items WHERE sku = 'TEA-1'") == 475


# --- the API's rules, in the API's words --------------------------------------------------

def test_a_file_with_bad_rows_imports_nothing_and_reports_each_line_in_the_apis_words(
        ini, tmp_path, capsys):
    source = write_csv(tmp_path / "bad.csv", ["sku", "name", "description", "price", "stock"],
                       [["OK-1", "Fine", "", 100, 1], ["bad sku!", "Bad sku", "", 100, 1],
                        ["OK-2", "Bad price", "", "1.5", 1], ["OK-1", "Repeat", "", 100, 1],
                        ["OK-3", "Bad stock", "", 100, "-2"], ["OK-4", "", "", 100, 1],
                        ["OK-5", "Long", "x" * 5001, 100, 1], ["OK-6", "No price", "", "", 1],
                        ["OK-7", "Fine too", "", 100, ""]])

    code, out, err = run(capsys, "-c", ini, "import-items", source)

    assert (code, out) == (1, "")
    assert err.splitlines() == [
        "line 3: sku: letters, digits, '.', '_' or '-', at most 64",
        "line 4: price: Not a valid integer.",
        "line 5: sku OK-1 repeats line 2",
        f"line 6: {STOCK_RANGE}",
        "line 7: name: Length must be between 1 and 120.",
        "line 8: description: Longer than maximum length 5000.",
        "line 9: price: Missing data for required field.",
        "rows_rejected: 7 rows rejected; nothing was imported"]
    assert count(ini, "SELECT count(*) FROM items") == 0


@pytest.mark.parametrize(("cells", "problem"), [
    pytest.param([2**63 - 1, 1], PRICE_RANGE, id="price-2^63-1"),
    pytest.param([10**20, 1], PRICE_RANGE, id="price-10^20"),
    pytest.param([10**12 + 1, 1], PRICE_RANGE, id="price-past-MAX_PRICE"),
    pytest.param([100, 10**14], STOCK_RANGE, id="stock-10^14"),
    pytest.param([100, 10**9 + 1], STOCK_RANGE, id="stock-past-MAX_STOCK"),
])
def test_prices_and_stock_past_the_apis_caps_are_refused_not_stored(
        ini, tmp_path, capsys, cells, problem):
    source = write_csv(tmp_path / "big.csv", ["sku", "name", "price", "stock"],
                       [["BIG", "Big", *cells]])

    code, _, err = run(capsys, "-c", ini, "import-items", source)

    assert code == 1
    assert err.splitlines() == [f"line 2: {problem}",
                                "rows_rejected: 1 rows rejected; nothing was imported"]
    assert count(ini, "SELECT count(*) FROM items") == 0


def test_the_caps_themselves_are_accepted(ini, tmp_path, capsys):
    source = write_csv(tmp_path / "cap.csv", ["sku", "name", "price", "stock"],
                       [["CAP", "Cap", 10**12, 10**9]])
    assert main(["-c", ini, "import-items", source]) == 0
    assert query(ini, "SELECT price, stock FROM items")[0] == (10**12, 10**9)


def test_a_nul_character_is_a_rejected_line_not_a_database_error(ini, tmp_path, capsys):
    source = write_csv(tmp_path / "nul.csv", ["name", "price"], [["Te\x00a", 100]])

    code, _, err = run(capsys, "-c", ini, "import-items", source)

    assert code == 1
    assert "line 2: name: remove the NUL character" in err
    assert "Traceback" not in err
    assert count(ini, "SELECT count(*) FROM items") == 0


def test_a_line_with_more_cells_than_columns_is_refused(ini, tmp_path, capsys):
    source = tmp_path / "extra.csv"
    source.write_text("name,price\nTea,100,oops\n")

    code, _, err = run(capsys, "-c", ini, "import-items", str(source))

    assert code == 1
    assert "line 2: _row: more cells than the header has columns" in err
    assert count(ini, "SELECT count(*) FROM items") == 0


def test_a_rejected_line_is_numbered_where_it_starts_in_the_file(ini, tmp_path, capsys):
    source = write_csv(tmp_path / "multi.csv", ["name", "description", "price"],
                       [["Bread", "two\nlines", 100], ["Cake", "three\nmore\nlines", "x"]])

    code, _, err = run(capsys, "-c", ini, "import-items", source)

    assert code == 1
    assert "line 4: price: Not a valid integer." in err


# --- round trips ---------------------------------------------------------------------------

def test_export_writes_what_import_reads(ini, tmp_path, capsys):
    main(["-c", ini, "import-items", write_csv(
        tmp_path / "in.csv", ["sku", "name", "description", "price", "stock", "category"],
        [["B", "Bread", "Sourdough, sliced", 650, 3, "Bakery"], ["A", "Apple", "", 40, 9, ""]])])
    out = tmp_path / "out.csv"

    assert main(["-c", ini, "export-items", str(out)]) == 0
    assert "exported 2 items" in capsys.readouterr().out
    rows = read_csv(out)
    assert [(r["sku"], r["price"], r["category"], r["description"]) for r in rows] == [
        ("A", "40", "", ""), ("B", "650", "Bakery", "Sourdough, sliced")]

    assert main(["-c", ini, "import-items", str(out)]) == 0
    assert "2 unchanged" in capsys.readouterr().out


def test_items_without_a_sku_round_trip_matched_by_id(ini, tmp_path, capsys):
    assert main(["-c", ini, "import-items", write_csv(
        tmp_path / "in.csv", ["name", "price", "stock"], [["Pear", 90, 5], ["Plum", 70, 2]])]) == 0
    out = tmp_path / "out.csv"
    assert main(["-c", ini, "export-items", str(out)]) == 0
    capsys.readouterr()
    ids = {row[0] for row in query(ini, "SELECT id FROM items")}
    assert {r["id"] for r in read_csv(out)} == ids

    code, stdout, err = run(capsys, "-c", ini, "import-items", str(out))

    assert (code, err) == (0, "")
    assert "2 unchanged" in stdout
    assert {row[0] for row in query(ini, "SELECT id FROM items")} == ids


def test_an_exported_row_changes_its_item_by_id_sku_included(ini, tmp_path, capsys):
    main(["-c", ini, "import-items", write_csv(tmp_path / "in.csv", ["sku", "name", "price"],
                                               [["OLD", "Tea", 450]])])
    out = tmp_path / "out.csv"
    main(["-c", ini, "export-items", str(out)])
    [row] = read_csv(out)
    edited = write_csv(tmp_path / "edited.csv", list(row),
                       [[*{**row, "sku": "NEW", "price": "500"}.values()]])
    capsys.readouterr()

    code, stdout, err = run(capsys, "-c", ini, "import-items", edited)

    assert (code, err) == (0, "")
    assert "1 updated" in stdout
    assert query(ini, "SELECT id, sku, price FROM items") == [(row["id"], "NEW", 500)]


def test_formula_cells_are_escaped_on_export_and_read_back_as_they_were(
        ini, app, tmp_path, capsys):
    texts = ['=HYPERLINK("http://evil.example","click")', "+1 free", "-20% off", "@SUM(A1)",
             "\tTabbed", "\rReturn", "'=already quoted", "'Tis plain"]
    def seed(services: Any) -> None:
        for i, value in enumerate(texts):
            category = services.categories.create_category(f"{value} {i}", Actor.system())
            services.catalog.create_item(NewItem(name=f"{value} {i}", description=value,
                                                 price=100, category_id=category.id),
                                         Actor.system())
    in_transaction(app, seed)
    out = tmp_path / "out.csv"

    assert main(["-c", ini, "export-items", str(out)]) == 0
    capsys.readouterr()

    rows = read_csv(out)
    assert sorted(r["description"] for r in rows) == sorted(
        ["'" + t for t in texts[:6]] + ["''=already quoted", "'Tis plain"])
    assert not any(cell[:1] in ("=", "+", "-", "@", "\t", "\r")
                   for r in rows for cell in r.values() if cell)
    # category names lose a leading tab or CR when made; = + - @ get the quote
    assert sorted(r["category"] for r in rows if r["category"].startswith("'")) == sorted(
        ["'" + f"{t} {i}" for i, t in enumerate(texts[:4])]
        + ["''=already quoted 6", "'Tis plain 7"])
    assert main(["-c", ini, "import-items", str(out)]) == 0
    assert f"{len(texts)} unchanged" in capsys.readouterr().out
    stored = query(ini, "SELECT i.name, i.description, c.name FROM items i "
                        "JOIN categories c ON c.id = i.category_id")
    assert sorted(stored) == sorted((f"{t} {i}", t, f"{t} {i}".strip())  # category names
                                    for i, t in enumerate(texts))       # are stripped


# --- live stock ----------------------------------------------------------------------------

def in_transaction(app: Any, work: Any) -> Any:
    container = app.registry.container
    return container.in_transaction(work)


def order(app: Any, item_id: str, quantity: int) -> None:
    """A shopper's order reserving stock, as the API would place it."""
    def place(services: Any) -> None:
        account = services.accounts.create_account(
            f"shopper-{quantity}@example.com", "a long password", "Shopper", Role.CUSTOMER,
            Actor.system())
        services.orders.place_order(PlaceOrder(lines=(RequestedLine(item_id, quantity),)),
                                    Actor(account.id, Role.CUSTOMER))
    in_transaction(app, place)


def test_reimporting_an_export_after_an_order_does_not_count_its_units_twice(
        ini, app, tmp_path, capsys):
    main(["-c", ini, "import-items", write_csv(
        tmp_path / "in.csv", ["sku", "name", "price", "stock"],
        [["JAM", "Jam", 300, 10], ["TEA", "Tea", 200, 5]])])
    out = tmp_path / "out.csv"
    main(["-c", ini, "export-items", str(out)])
    capsys.readouterr()
    [jam_id] = [row[0] for row in query(ini, "SELECT id FROM items WHERE sku = 'JAM'")]
    order(app, jam_id, 3)
    assert count(ini, "SELECT stock FROM items WHERE sku = 'JAM'") == 7

    code, stdout, err = run(capsys, "-c", ini, "import-items", str(out))

    assert (code, stdout) == (1, "")
    assert "line 2: version: the item changed since the export" in err
    assert "rows_rejected: 1 rows rejected; nothing was imported" in err
    assert count(ini, "SELECT stock FROM items WHERE sku = 'JAM'") == 7


def test_an_export_edited_while_nothing_else_changed_imports(ini, tmp_path, capsys):
    main(["-c", ini, "import-items", write_csv(tmp_path / "in.csv", ["sku", "name", "price",
                                                                     "stock"],
                                               [["JAM", "Jam", 300, 10]])])
    out = tmp_path / "out.csv"
    main(["-c", ini, "export-items", str(out)])
    [row] = read_csv(out)
    edited = write_csv(tmp_path / "e.csv", list(row),
                       [[*{**row, "stock": "12", "price": "350"}.values()]])
    capsys.readouterr()

    assert main(["-c", ini, "import-items", edited]) == 0
    assert query(ini, "SELECT price, stock, version FROM items") == [
        (350, 12, int(row["version"]) + 1)]
    # the same file again: that version is gone, and the file would change nothing anyway
    assert main(["-c", ini, "import-items", edited]) == 0
    assert "1 unchanged" in capsys.readouterr().out


def test_stock_of_an_existing_item_changes_only_with_an_exported_version(
        ini, tmp_path, capsys):
    main(["-c", ini, "import-items", write_csv(tmp_path / "in.csv", ["sku", "name", "price",
                                                                     "stock"],
                                               [["JAM", "Jam", 300, 10]])])
    capsys.readouterr()

    code, _, err = run(capsys, "-c", ini, "import-items", write_csv(
        tmp_path / "b.csv", ["sku", "name", "price", "stock"], [["JAM", "Jam", 300, 4]]))

    assert code == 1
    assert "line 2: stock: an existing item's stock changes only through a file exported" in err
    assert count(ini, "SELECT stock FROM items") == 10


# --- files that cannot be read ---------------------------------------------------------------

@pytest.mark.parametrize(("content", "message"), [
    pytest.param(None, "bad_csv: no such file: ", id="missing"),
    pytest.param(b"name,price\nCaf\xe9,100\n", "bad_csv: ", id="latin-1"),
    pytest.param(b"", "bad_csv: ", id="empty"),
    pytest.param(b"name,cost\nTea,1\n", "bad_csv: the header has unknown columns: cost",
                 id="unknown-column"),
    pytest.param(b"description\nTea\n", "bad_csv: the header lacks the columns: name, price",
                 id="missing-columns"),
    pytest.param(b"name,price,name\nTea,1,Tea\n", "bad_csv: the header repeats the columns: "
                 "name", id="repeated-column"),
])
def test_an_unreadable_file_exits_1_with_a_clear_message(ini, tmp_path, capsys, content,
                                                         message):
    source = tmp_path / "items.csv"
    if content is not None:
        source.write_bytes(content)

    code, out, err = run(capsys, "-c", ini, "import-items", str(source))

    assert (code, out) == (1, "")
    assert err.startswith(message)
    assert len(err.splitlines()) == 1
    if content == b"name,price\nCaf\xe9,100\n":
        assert "is not UTF-8 text" in err


def test_export_to_a_place_that_cannot_be_written_exits_1(ini, tmp_path, capsys):
    code, out, err = run(capsys, "-c", ini, "export-items", str(tmp_path / "no" / "x.csv"))
    assert (code, out) == (1, "")
    assert err.startswith("cannot_write: cannot write ")

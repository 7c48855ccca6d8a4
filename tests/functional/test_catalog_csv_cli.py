"""`minimart import-items` / `export-items`: the catalog as CSV, all or nothing."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from minimart.entrypoints.cli import main
from tests.conftest import FAST_ARGON2, TEST_JWT_SECRET


@pytest.fixture
def ini(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
        ) -> str:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    settings = {"minimart.environment": "test",
                "minimart.database_url": f"sqlite:///{tmp_path / 'csv.sqlite'}",
                "minimart.jwt_secret": TEST_JWT_SECRET, **FAST_ARGON2}
    path = tmp_path / "csv.ini"
    path.write_text("\n".join(["[app:main]", "use = egg:minimart",
                               *(f"{k} = {v}" for k, v in settings.items())]) + "\n")
    assert main(["-c", str(path), "db", "upgrade"]) == 0
    capsys.readouterr()
    return str(path)


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> str:
    with path.open("w", newline="") as target:
        writer = csv.writer(target)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def count(ini: str, sql: str) -> int:
    url = next(line.split(" = ", 1)[1] for line in Path(ini).read_text().splitlines()
               if line.startswith("minimart.database_url"))
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(text(sql)).scalar_one()
    finally:
        engine.dispose()


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


def test_a_file_with_bad_rows_imports_nothing_and_reports_each_reason(ini, tmp_path, capsys):
    source = write_csv(tmp_path / "bad.csv", ["sku", "name", "price", "stock"],
                       [["OK-1", "Fine", 100, 1], ["", "No sku", 100, 1],
                        ["OK-2", "Bad price", "1.5", 1], ["OK-1", "Repeat", 100, 1],
                        ["OK-3", "Bad stock", 100, "-2"]])

    assert main(["-c", ini, "import-items", source]) == 1
    err = capsys.readouterr().err
    assert "line 3: sku is required" in err
    assert "line 4: price must be a whole number" in err
    assert "line 5: sku repeats line 2" in err
    assert "line 6: stock must be a whole number" in err
    assert "rows_rejected: 4 rows rejected; nothing was imported" in err
    assert count(ini, "SELECT count(*) FROM items") == 0


def test_a_header_without_the_required_columns_is_refused(ini, tmp_path, capsys):
    source = write_csv(tmp_path / "cols.csv", ["name", "cost"], [["Tea", 1]])
    assert main(["-c", ini, "import-items", source]) == 1
    assert "bad_csv: the header lacks the columns: sku, price" in capsys.readouterr().err


def test_a_long_import_shows_progress(ini, tmp_path, capsys):
    source = write_csv(tmp_path / "long.csv", ["sku", "name", "price"],
                       [[f"S{i}", f"Item {i}", 100] for i in range(600)])
    assert main(["-c", ini, "import-items", source]) == 0
    assert "600/600 rows" in capsys.readouterr().err


def test_export_writes_what_import_reads(ini, tmp_path, capsys):
    main(["-c", ini, "import-items", write_csv(
        tmp_path / "in.csv", ["sku", "name", "description", "price", "stock", "category"],
        [["B", "Bread", "Sourdough, sliced", 650, 3, "Bakery"], ["A", "Apple", "", 40, 9, ""]])])
    out = tmp_path / "out.csv"

    assert main(["-c", ini, "export-items", str(out)]) == 0
    assert "exported 2 items" in capsys.readouterr().out
    with out.open() as exported:
        rows = list(csv.DictReader(exported))
    assert [(r["sku"], r["price"], r["category"], r["description"]) for r in rows] == [
        ("A", "40", "", ""), ("B", "650", "Bakery", "Sourdough, sliced")]

    assert main(["-c", ini, "import-items", str(out)]) == 0
    assert "2 unchanged" in capsys.readouterr().out

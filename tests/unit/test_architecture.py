"""The shape of the code (issue 13): a domain whose modules import one another one way only,
and modules short enough to read, so a long one has to say why it is long.

import-linter (`lint-imports`) holds the layers; these are the rules its contracts cannot
state. The import graph is grimp's, as import-linter builds it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

import minimart

MAX_LINES = 350
REASON = "over 350 lines because"
SOURCE = Path(minimart.__file__).parent
NOT_COUNTED = [Path("adapters", "sqlalchemy", "migrations")]  # Alembic's revisions


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("minimart", cache_dir=None)  # leave no cache in the tree


def import_cycles(graph: grimp.ImportGraph, package: str) -> list[tuple[str, ...]]:
    """One shortest cycle through each import of `package`'s modules that is part of one:
    module -> imported -> ... -> module."""
    modules = graph.find_descendants(package) | {package}
    cycles: set[tuple[str, ...]] = set()
    for module in sorted(modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module) & modules):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back is not None:
                cycles.add((module, *back))
    return sorted(cycles)


def long_modules(root: Path) -> list[str]:
    """Modules under `root` over MAX_LINES lines whose docstring gives no reason."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if any(path.relative_to(root).is_relative_to(skipped) for skipped in NOT_COUNTED):
            continue
        source = path.read_text(encoding="utf-8")
        lines = len(source.splitlines())
        docstring = ast.get_docstring(ast.parse(source)) or ""
        if lines > MAX_LINES and REASON not in " ".join(docstring.split()):
            found.append(f"{path.relative_to(root.parent)}: {lines} lines")
    return found


def test_no_module_of_the_domain_imports_itself_back(graph):
    """A cycle makes the import order matter and the pieces impossible to read (or test)
    bottom-up; the domain is pure Python, so nothing forces one on it."""
    assert import_cycles(graph, "minimart.domain") == []


def test_no_module_anywhere_in_minimart_imports_itself_back(graph):
    """Outside the domain too: a circle (cursors -> api -> api.audit -> cursors once) makes
    a module importable only after another, which the bench found the hard way."""
    assert import_cycles(graph, "minimart") == []


def test_no_module_is_over_350_lines_unless_its_docstring_says_why():
    found = long_modules(SOURCE)
    assert not found, (f"split these, or say in the docstring why each is {REASON} ...: "
                       + ", ".join(found))


# --- the checks themselves can fail ----------------------------------------------------------

def test_an_import_cycle_is_found_with_its_path():
    looped = grimp.build_graph("minimart", cache_dir=None)
    looped.add_import(importer="minimart.domain.money", imported="minimart.domain.orders")

    cycles = import_cycles(looped, "minimart.domain")

    assert ("minimart.domain.money", "minimart.domain.orders", "minimart.domain.money") in cycles


def test_an_indirect_import_cycle_is_found():
    looped = grimp.build_graph("minimart", cache_dir=None)
    looped.add_import(importer="minimart.domain.money", imported="minimart.domain.store")

    cycles = import_cycles(looped, "minimart.domain")

    assert ("minimart.domain.money", "minimart.domain.store", "minimart.domain.pricing",
            "minimart.domain.money") in cycles


def test_a_long_module_is_found_unless_its_docstring_says_why(tmp_path):
    package = tmp_path / "minimart"
    (package / "adapters" / "sqlalchemy" / "migrations").mkdir(parents=True)
    body = "x = 1\n" * MAX_LINES
    (package / "short.py").write_text('"""Short."""\n' + "x = 1\n" * (MAX_LINES - 1))
    (package / "long.py").write_text('"""Long."""\n' + body)
    (package / "explained.py").write_text(
        '"""Long, and it is\nover 350 lines because it must be."""\n' + body)
    (package / "adapters" / "sqlalchemy" / "migrations" / "0001_first.py").write_text(body * 2)

    assert long_modules(package) == ["minimart/long.py: 351 lines"]

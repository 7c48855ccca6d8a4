"""The catalog as a CSV file: reading it safely, cells to API fields, and writing it.

Every row is loaded through the schemas of `POST /items` (a row that creates an item) and
`PATCH /items/{id}` (a row that changes one), so the CLI refuses what the API refuses, in
the same words. Cells a spreadsheet would run as a formula (starting with = + - @, a tab or
a carriage return) are written behind a single quote (OWASP's CSV injection advice) and
read back without it, so export then import gives back the same text.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from typing import IO, Any

from marshmallow import Schema, ValidationError, fields, validate

from minimart.domain.errors import ValidationFailed
from minimart.domain.services.catalog_transfer import COLUMNS
from minimart.entrypoints.schemas.items import ItemCreateText, ItemPatchText

# a header must hold these to create items; a file that only updates may give id or sku
# instead (the rows that would create an item are then refused, each naming what lacks)
CREATE_COLUMNS = ("name", "price")
MATCH_COLUMNS = ("id", "sku")
_FORMULA = re.compile(r"^'*[=+\-@\t\r]")
_INTEGER = re.compile(r"^-?[0-9]{1,30}$")  # ASCII digits, as JSON has
_TEXT_COLUMNS = ("name", "description")
_OPTIONAL_COLUMNS = ("price", "stock", "available", "featured")  # blank: not given
EXTRA = "_extra"  # marks a row with more cells than the header names


class CsvProblem(Exception):
    """A file that cannot be read as a catalog at all (as opposed to rejected rows)."""


class _Category(Schema):
    category = fields.String(validate=validate.Length(max=120))


_CREATE, _PATCH, _CATEGORY = ItemCreateText(), ItemPatchText(), _Category()


def escape_cell(text: str) -> str:
    """A cell a spreadsheet would evaluate, made plain text by a leading quote. Text that
    already starts with quotes before such a character gets one more, so reading strips
    exactly one and every text comes back as it was."""
    return f"'{text}" if _FORMULA.match(text) else text


def unescape_cell(text: str) -> str:
    return text[1:] if text.startswith("'") and _FORMULA.match(text) else text


def read_rows(source: IO[str], name: str) -> list[tuple[int, dict[str, str]]]:
    """The rows of an open CSV file as (first line number, column -> unescaped cell)."""
    try:
        reader = csv.reader(source)
        header = next(reader, None)
        if header is None:
            raise CsvProblem(f"{name} is empty: the first line must name the columns")
        header = [column.strip().lower() for column in header]
        _check_header(header)
        rows: list[tuple[int, dict[str, str]]] = []
        line = reader.line_num
        for cells in reader:
            start, line = line + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            row = {column: unescape_cell(cell) for column, cell in zip(header, cells,
                                                                        strict=False)}
            row.update((column, "") for column in header[len(cells):])
            if len(cells) > len(header):
                row[EXTRA] = ""
            rows.append((start, row))
        return rows
    except UnicodeDecodeError as error:
        raise CsvProblem(f"{name} is not UTF-8 text (it holds the byte "
                         f"0x{error.object[error.start]:02x}): save it as CSV UTF-8") from None
    except csv.Error as error:
        raise CsvProblem(f"{name} is not readable CSV (line {reader.line_num}: {error})"
                         ) from None


def _check_header(header: list[str]) -> None:
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise CsvProblem(f"the header repeats the columns: {', '.join(repeated)}")
    unknown = [c for c in header if c not in COLUMNS]
    if unknown:
        raise CsvProblem(f"the header has unknown columns: {', '.join(unknown)} "
                         f"(known: {', '.join(COLUMNS)})")
    missing = [c for c in CREATE_COLUMNS if c not in header]
    if missing and not any(c in header for c in MATCH_COLUMNS):
        raise CsvProblem(f"the header lacks the columns: {', '.join(missing)} (or id or sku "
                         "to name the items a file changes)")


def load_fields(cells: Mapping[str, str], creating: bool) -> dict[str, Any]:
    """A row's cells as the item fields the API would accept, plus its category name.

    Blank number and flag cells mean "not given" (the default for a new item, unchanged
    for an existing one); a blank sku is no sku, a blank category no category.
    """
    problems: dict[str, list[str]] = {}
    if EXTRA in cells:
        problems["_row"] = ["more cells than the header has columns"]
    nul = [c for c, v in cells.items() if "\x00" in v]
    problems.update({c: ["remove the NUL character"] for c in nul})
    data: dict[str, Any] = {}
    for column in _TEXT_COLUMNS:
        if column in cells:
            data[column] = cells[column]
    if "sku" in cells:
        data["sku"] = cells["sku"].strip() or None
    for column in _OPTIONAL_COLUMNS:
        text = cells.get(column, "").strip()
        if text:
            data[column] = int(text) if _INTEGER.match(text) else text
    category: dict[str, Any] = {}
    if "category" in cells:
        try:
            category = _CATEGORY.load({"category": cells["category"].strip()})
        except ValidationError as error:
            problems.update(_messages(error))
    try:
        loaded = (_CREATE.load(data) if creating
                  else _PATCH.load(data) if data else {})
    except ValidationError as error:
        problems.update(_messages(error))
        loaded = {}
    if problems:
        raise ValidationFailed("the row is not valid", details={
            k: problems[k] for k in sorted(problems)})
    if category:
        loaded["category"] = category["category"] or None
    return loaded


def _messages(error: ValidationError) -> dict[str, list[str]]:
    messages = error.normalized_messages()
    return {name: [str(m) for m in value] if isinstance(value, list) else [str(value)]
            for name, value in messages.items()}


def write_rows(target: IO[str], rows: Iterable[dict[str, str]]) -> int:
    """Write the header and every row, each cell escaped; returns how many rows."""
    writer = csv.DictWriter(target, fieldnames=COLUMNS)
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow({column: escape_cell(value) for column, value in row.items()})
        count += 1
    return count

"""Moving the catalog in and out as rows of text (CSV at the edge): all or nothing.

An import is checked whole before anything is written; any rejected row rejects the file,
with every reason reported. Rows are matched to existing items by sku, so importing the same
file twice changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from minimart.domain.accounts import Actor, Permission
from minimart.domain.catalog import MAX_PAGE_SIZE, CatalogService, ItemQuery, NewItem
from minimart.domain.categories import CategoryService
from minimart.domain.errors import DomainError

COLUMNS = ("sku", "name", "description", "price", "stock", "available", "featured", "category")
REQUIRED = ("sku", "name", "price")
_TRUE, _FALSE = {"true", "yes", "1", "y"}, {"false", "no", "0", "n", ""}


@dataclass(frozen=True, slots=True)
class RejectedRow:
    line: int
    reasons: list[str]


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    fields: dict[str, Any]
    category: str | None


def _flag(value: str, name: str, reasons: list[str]) -> bool:
    text = value.strip().lower()
    if text not in _TRUE | _FALSE:
        reasons.append(f"{name} must be true or false, not {value!r}")
    return text in _TRUE


def _whole(value: str, name: str, reasons: list[str], default: int | None = None) -> int:
    text = value.strip()
    if not text and default is not None:
        return default
    if not text.isdigit():
        reasons.append(f"{name} must be a whole number of minor units, not {value!r}")
        return 0
    return int(text)


def parse_row(line: int, raw: dict[str, str | None]) -> _Row | RejectedRow:
    values = {key: (raw.get(key) or "") for key in COLUMNS}
    reasons = [f"{name} is required" for name in REQUIRED if not values[name].strip()]
    fields = {
        "sku": values["sku"].strip(), "name": values["name"].strip(),
        "description": values["description"],
        "price": _whole(values["price"], "price", reasons),
        "stock": _whole(values["stock"], "stock", reasons, default=0),
        "available": _flag(values["available"] or "true", "available", reasons),
        "featured": _flag(values["featured"], "featured", reasons),
    }
    if len(fields["name"]) > 120:
        reasons.append("name is over 120 characters")
    if reasons:
        return RejectedRow(line, reasons)
    return _Row(line, fields, values["category"].strip() or None)


class CatalogTransfer:
    def __init__(self, catalog: CatalogService, categories: CategoryService) -> None:
        self._catalog = catalog
        self._categories = categories

    def import_rows(self, rows: Sequence[tuple[int, dict[str, str | None]]], actor: Actor,
                    progress: Callable[[int], None] | None = None) -> ImportReport:
        """Create or update every row's item, or nothing at all when a row is rejected
        (the caller's transaction rolls back whatever a failure part-way wrote)."""
        actor.require(Permission.CATALOG_WRITE)
        report = ImportReport()
        parsed: list[_Row] = []
        skus: dict[str, int] = {}
        for line, raw in rows:
            row = parse_row(line, raw)
            if isinstance(row, _Row) and row.fields["sku"] in skus:
                row = RejectedRow(line, [f"sku repeats line {skus[row.fields['sku']]}"])
            if isinstance(row, RejectedRow):
                report.rejected.append(row)
            else:
                skus[row.fields["sku"]] = line
                parsed.append(row)
        if report.rejected:
            return report
        category_ids = {c.name: c.id for c in self._categories.list_categories()}
        for done, row in enumerate(parsed, start=1):
            try:
                self._apply(row, category_ids, actor, report)
            except DomainError as error:
                report.rejected.append(RejectedRow(row.line, [error.message, *[
                    f"{k}: {'; '.join(map(str, v))}" for k, v in error.details.items()
                    if isinstance(v, list)]]))
                return report
            if progress is not None:
                progress(done)
        return report

    def _apply(self, row: _Row, category_ids: dict[str, str], actor: Actor,
               report: ImportReport) -> None:
        fields = dict(row.fields)
        if row.category is not None and row.category not in category_ids:
            category_ids[row.category] = self._categories.create_category(row.category,
                                                                          actor).id
        fields["category_id"] = category_ids.get(row.category) if row.category else None
        existing = self._catalog.find_by_sku(fields["sku"])
        if existing is None:
            self._catalog.create_item(NewItem(**fields), actor)
            report.created += 1
            return
        changes = {k: v for k, v in fields.items() if existing.editable_fields().get(k) != v}
        if changes:
            self._catalog.update_item(existing.id, changes, actor)
            report.updated += 1
        else:
            report.unchanged += 1

    def export_rows(self, actor: Actor) -> Iterator[dict[str, str]]:
        """Every item on sale (archived ones are left out), in name order."""
        names = {c.id: c.name for c in self._categories.list_categories()}
        query = ItemQuery(limit=MAX_PAGE_SIZE)
        while True:
            page = self._catalog.list_items(query, actor)
            for item in page.entries:
                yield {"sku": item.sku or "", "name": item.name,
                       "description": item.description, "price": str(item.price.amount),
                       "stock": str(item.stock), "available": str(item.available).lower(),
                       "featured": str(item.featured).lower(),
                       "category": names.get(item.category_id or "", "")}
            if page.next_after is None:
                return
            query = ItemQuery(limit=MAX_PAGE_SIZE, after=page.next_after)

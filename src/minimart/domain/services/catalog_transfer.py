"""Moving the catalog in and out as rows of text (CSV at the edge): all or nothing.

An import is checked whole before anything is written; any rejected row rejects the file,
with every reason reported. A row names its item by `id` (an export writes it), else by
`sku`; a row naming neither creates an item, so an item without a sku round-trips too.

Stock is live: orders take and return units while a file sits in a spreadsheet. So a row
carries the `version` its item had when exported, and, like `If-Match` on PATCH, a row
that would change an item that changed since (an order reserving stock changes it) is
refused, never written over. Without a version a row may change an existing item, but
never its stock: nothing would show the count was still the one the file started from.

The field rules are the API's: the entrypoint injects `load`, which turns a row's cells
into the fields `POST /items` (creating) or `PATCH /items/{id}` (changing) would accept,
or raises ValidationFailed naming each field's problems in the API's words.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from minimart.domain.actors import Actor, Permission
from minimart.domain.catalog import MAX_PAGE_SIZE, Item, ItemQuery, NewItem
from minimart.domain.errors import (
    DomainError,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
)
from minimart.domain.services.catalog import CatalogService
from minimart.domain.services.categories import CategoryService

# The export's columns, which an import reads back; `id` and `version` tie a row to the
# item and the state it was exported from.
COLUMNS = ("id", "sku", "name", "description", "price", "stock", "available", "featured",
           "category", "version")

# cells of one row (header column -> text), and whether the row creates an item; returns
# the item fields the API's schema accepts, or raises ValidationFailed with the problems
FieldLoader = Callable[[Mapping[str, str], bool], dict[str, Any]]


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
class _Plan:
    """One checked row: what it will do to which item."""

    line: int
    existing: Item | None
    fields: dict[str, Any]
    category: str | None  # a category name; None leaves it (or no category when given)
    sets_category: bool
    version: int | None


def reasons_of(error: DomainError) -> list[str]:
    """A domain error as lines of text: its field problems, else its message."""
    problems = [f"{name}: {' '.join(map(str, messages))}"
                for name, messages in error.details.items() if isinstance(messages, list)]
    return problems or [error.message]


def _changes(plan: _Plan, category_ids: Mapping[str, str]) -> dict[str, Any]:
    """What the row would change on its existing item; a category not made yet is a change
    (to a new id, None until it is made)."""
    assert plan.existing is not None
    current = plan.existing.editable_fields()
    changes = {k: v for k, v in plan.fields.items() if current.get(k) != v}
    if plan.sets_category:
        wanted = category_ids.get(_key(plan.category)) if plan.category else None
        if wanted != current["category_id"] or (plan.category and wanted is None):
            changes["category_id"] = wanted
    return changes


def _key(category: str) -> str:
    """Category names are one name whatever their letter case."""
    return category.strip().casefold()


def _whole(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else None


class CatalogTransfer:
    def __init__(self, catalog: CatalogService, categories: CategoryService) -> None:
        self._catalog = catalog
        self._categories = categories

    def import_rows(self, rows: Sequence[tuple[int, Mapping[str, str]]], actor: Actor,
                    load: FieldLoader, progress: Callable[[int], None] | None = None,
                    ) -> ImportReport:
        """Create or update every row's item, or nothing at all when a row is rejected
        (the caller's transaction rolls back whatever a failure part-way wrote)."""
        actor.require(Permission.CATALOG_WRITE)
        report = ImportReport()
        plans: list[_Plan] = []
        seen: dict[str, int] = {}
        category_ids = {_key(c.name): c.id for c in self._categories.list_categories()}
        for line, cells in rows:
            try:
                plan = self._check(line, cells, actor, load, category_ids)
            except DomainError as error:
                report.rejected.append(RejectedRow(line, reasons_of(error)))
                continue
            keys = [f"id {plan.existing.id}"] if plan.existing else []
            if plan.fields.get("sku"):
                keys.append(f"sku {plan.fields['sku']}")
            repeats = [f"{key} repeats line {seen[key]}" for key in keys if key in seen]
            if repeats:
                report.rejected.append(RejectedRow(line, repeats))
                continue
            seen.update(dict.fromkeys(keys, line))
            plans.append(plan)
        if report.rejected:
            return report
        for done, plan in enumerate(plans, start=1):
            try:
                self._apply(plan, category_ids, actor, report)
            except DomainError as error:
                report.rejected.append(RejectedRow(plan.line, reasons_of(error)))
                return report
            if progress is not None:
                progress(done)
        return report

    def _check(self, line: int, cells: Mapping[str, str], actor: Actor, load: FieldLoader,
               category_ids: Mapping[str, str]) -> _Plan:
        item_id = cells.get("id", "").strip()
        sku = cells.get("sku", "").strip()
        version_text = cells.get("version", "").strip()
        version = _whole(version_text)
        if version_text and version is None:
            raise ValidationFailed("bad version", details={
                "version": [f"must be the whole number an export wrote, not {version_text!r}"]})
        existing = self._find(item_id, sku, actor)
        if existing is None and (item_id or version is not None):
            raise NotFound("no such item", details={"id" if item_id else "version": [
                "no item has this id or sku (another shop's export, or renamed since?); "
                "clear id and version to create it"]})
        fields = load(cells, existing is None)
        category = fields.pop("category", None)
        plan = _Plan(line, existing, fields, category, "category" in cells, version)
        if existing is not None:
            changes = _changes(plan, category_ids)
            if changes and version is not None and version != existing.version:
                raise PreconditionFailed("changed since the export", details={"version": [
                                      f"the item changed since the export (version {version} "
                                      f"there, {existing.version} now): export again and redo "
                                      "this line"]})
            if "stock" in changes and version is None:
                raise ValidationFailed("stock needs a version", details={"stock": [
                    "an existing item's stock changes only through a file exported with its "
                    "version (or a stock adjustment), so no unit is counted twice"]})
        return plan

    def _find(self, item_id: str, sku: str, actor: Actor) -> Item | None:
        if item_id:
            try:
                return self._catalog.get_item(item_id, actor)
            except NotFound:
                return None
        return self._catalog.find_by_sku(sku) if sku else None

    def _apply(self, plan: _Plan, category_ids: dict[str, str], actor: Actor,
               report: ImportReport) -> None:
        fields = dict(plan.fields)
        if plan.sets_category:
            key = _key(plan.category or "")
            if plan.category and key not in category_ids:
                category_ids[key] = self._categories.create_category(plan.category, actor).id
            fields["category_id"] = category_ids[key] if plan.category else None
        if plan.existing is None:
            self._catalog.create_item(NewItem(**fields), actor)
            report.created += 1
            return
        changes = _changes(plan, category_ids)
        if not changes:
            report.unchanged += 1
            return
        # the version read when checking: an order reserving stock meanwhile refuses it
        self._catalog.update_item(plan.existing.id, changes, actor,
                                  expected_version=plan.existing.version)
        report.updated += 1

    def export_rows(self, actor: Actor) -> Iterator[dict[str, str]]:
        """Every item on sale (archived ones are left out), in name order."""
        names = {c.id: c.name for c in self._categories.list_categories()}
        query = ItemQuery(limit=MAX_PAGE_SIZE)
        while True:
            page = self._catalog.list_items(query, actor)
            for item in page.entries:
                yield {"id": item.id, "sku": item.sku or "", "name": item.name,
                       "description": item.description, "price": str(item.price.amount),
                       "stock": str(item.stock), "available": str(item.available).lower(),
                       "featured": str(item.featured).lower(),
                       "category": names.get(item.category_id or "", ""),
                       "version": str(item.version)}
            if page.next_after is None:
                return
            query = ItemQuery(limit=MAX_PAGE_SIZE, after=page.next_after)

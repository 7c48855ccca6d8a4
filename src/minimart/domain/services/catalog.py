"""CatalogService: how shoppers find items and how staff change them and their pictures."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from minimart.domain.actors import Actor, Permission
from minimart.domain.audit import audit_event, diff
from minimart.domain.catalog import (
    EDITABLE_FIELDS,
    MAX_PAGE_SIZE,
    MAX_STOCK,
    MIN_PICTURE_GRACE,
    Item,
    ItemQuery,
    NewItem,
    check_item_fields,
    sort_value,
)
from minimart.domain.errors import (
    InsufficientStock,
    NotFound,
    PreconditionFailed,
    SkuTaken,
    ValidationFailed,
)
from minimart.domain.ids import new_id
from minimart.domain.images import VARIANT_WIDTHS, Picture, UnsupportedImage
from minimart.domain.money import Money
from minimart.domain.paging import Page, PageAfter, keyset_page
from minimart.domain.ports.catalog import (
    ImageProcessor,
    ImageStore,
)
from minimart.domain.ports.clock import Clock
from minimart.domain.ports.unit_of_work import UnitOfWork


class CatalogService:
    def __init__(self, uow: UnitOfWork, clock: Clock, currency: str, *,
                 images: ImageStore | None = None,
                 processor: ImageProcessor | None = None) -> None:
        self._uow = uow
        self._images: ImageStore = images or _NoImages()
        self._processor: ImageProcessor = processor or _NoImages()
        self._clock = clock
        self._currency = currency

    # --- reading -------------------------------------------------------
    def list_items(self, query: ItemQuery, actor: Actor) -> Page[Item]:
        if query.include_archived and not actor.can(Permission.CATALOG_WRITE):
            query = replace(query, include_archived=False)
        limit = max(1, min(query.limit, MAX_PAGE_SIZE))
        rows = self._uow.items.find(replace(query, limit=limit + 1))
        return keyset_page(rows, limit, lambda item: PageAfter(sort_value(item, query.sort),
                                                               item.id))

    def get_item(self, item_id: str, actor: Actor) -> Item:
        item = self._uow.items.get(item_id)
        if item is None or (item.archived and not actor.can(Permission.CATALOG_WRITE)):
            raise NotFound("no such item")
        return item

    def low_stock(self, threshold: int, limit: int, actor: Actor) -> list[Item]:
        """Items on sale with at most `threshold` left, lowest first: what to restock."""
        actor.require(Permission.CATALOG_WRITE)
        return list(self._uow.items.low_stock(max(0, threshold),
                                          max(1, min(limit, MAX_PAGE_SIZE))))

    def find_by_sku(self, sku: str) -> Item | None:
        return self._uow.items.get_by_sku(sku)

    # --- changing ------------------------------------------------------
    def create_item(self, new: NewItem, actor: Actor) -> Item:
        actor.require(Permission.CATALOG_WRITE)
        check_item_fields({"name": new.name, "price": new.price, "stock": new.stock})
        self._ensure_category(new.category_id)
        self._ensure_sku_free(new.sku, None)
        now = self._clock.now()
        item = Item(id=new_id(), sku=new.sku, name=new.name, description=new.description,
                    price=Money(new.price, self._currency), stock=new.stock,
                    available=new.available, featured=new.featured,
                    category_id=new.category_id, created_at=now, updated_at=now)
        self._uow.items.add(item)
        self._record(actor, "item.created", item.id, diff({}, item.editable_fields()))
        return item

    def update_item(self, item_id: str, changes: dict[str, Any], actor: Actor,
                    expected_version: int | None = None) -> Item:
        """Apply field changes; with expected_version, refuse to overwrite someone else's edit."""
        actor.require(Permission.CATALOG_WRITE)
        unknown = set(changes) - EDITABLE_FIELDS
        if unknown:
            raise ValueError(f"not editable: {sorted(unknown)}")
        check_item_fields(changes)
        if "category_id" in changes:
            self._ensure_category(changes["category_id"])
        item = self._uow.items.get(item_id)
        if item is None:
            raise NotFound("no such item")
        version = item.version if expected_version is None else expected_version
        if version != item.version:
            raise PreconditionFailed("the item changed since you read it")
        if "sku" in changes and changes["sku"] != item.sku:
            self._ensure_sku_free(changes["sku"], item.id)
        fields = dict(changes)
        if "price" in fields:
            fields["price"] = Money(fields["price"], self._currency)
        updated = replace(item, **fields, updated_at=self._clock.now(), version=version + 1)
        if not self._uow.items.update(updated, expected_version=version):
            raise PreconditionFailed("the item changed since you read it")
        self._record(actor, "item.updated", item.id,
                     diff(item.editable_fields(), updated.editable_fields()))
        return updated

    def adjust_stock(self, item_id: str, delta: int, reason: str, actor: Actor) -> Item:
        """Add or remove stock atomically in the database; never below zero. An adjustment
        of 0 changes nothing yet would write an audit event claiming a change: refused."""
        actor.require(Permission.CATALOG_WRITE)
        if delta == 0:
            raise ValidationFailed("an adjustment changes the stock",
                                   details={"delta": ["must not be 0"]})
        before = self._uow.items.get(item_id)
        if before is None:
            raise NotFound("no such item")
        after = self._uow.items.adjust_stock(item_id, delta, self._clock.now())
        if after is None:
            current = self._uow.items.get(item_id)
            available = current.stock if current else 0
            if delta > 0:
                raise ValidationFailed(f"stock cannot exceed {MAX_STOCK}", details={
                    "delta": [f"at most {MAX_STOCK - available} more can be added"]})
            raise InsufficientStock(
                "stock cannot go below zero",
                details={"item_id": item_id, "requested": -delta, "available": available})
        self._record(actor, "item.stock_adjusted", item_id,
                     {"stock": [after.stock - delta, after.stock], "delta": [None, delta],
                      "reason": [None, reason]})
        return after

    def archive_item(self, item_id: str, actor: Actor) -> None:
        """Hide an item from the storefront; orders that name it keep it. Repeating is harmless."""
        actor.require(Permission.CATALOG_WRITE)
        item = self._uow.items.get(item_id)
        if item is None:
            raise NotFound("no such item")
        if item.archived:
            return
        self._uow.items.archive(item_id, self._clock.now())
        self._record(actor, "item.archived", item_id, {"archived": [False, True]})

    # --- pictures --------------------------------------------------------
    def set_image(self, item_id: str, upload: bytes, actor: Actor) -> Item:
        """Store the picture and its narrower copies, then point the item at it. The old
        picture's files stay: pages cached before the change still name them, and only
        sweep_pictures removes them, after a grace period."""
        actor.require(Permission.CATALOG_WRITE)
        item = self._uow.items.get(item_id)
        if item is None:
            raise NotFound("no such item")
        picture = self._processor.normalize(upload)
        key = self._images.put(picture)
        for width in VARIANT_WIDTHS:
            self._images.put_variant(key, width, self._processor.variant(picture, width))
        return self._replace_image(item, key, actor)

    def remove_image(self, item_id: str, actor: Actor) -> None:
        actor.require(Permission.CATALOG_WRITE)
        item = self._uow.items.get(item_id)
        if item is None:
            raise NotFound("no such item")
        if item.image_key is not None:
            self._replace_image(item, None, actor)

    def image(self, key: str, width: int | None = None) -> Picture:
        """The picture, or its copy `width` pixels wide (one of VARIANT_WIDTHS). A picture
        stored before it had copies gets them made here, once."""
        if width is not None and width not in VARIANT_WIDTHS:
            raise NotFound("no such image")
        picture = self._images.get(key, width)
        if picture is not None:
            return picture
        original = self._images.get(key)
        if original is None:
            raise NotFound("no such image")
        if width is None:
            return original
        variant = self._processor.variant(original, width)
        self._images.put_variant(key, width, variant)
        return variant

    def sweep_pictures(self, grace: timedelta, actor: Actor) -> list[str]:
        """Delete the pictures no item shows that were last stored over `grace` ago; the
        grace must outlive every cache of a page that named them."""
        actor.require(Permission.CATALOG_WRITE)
        if grace < MIN_PICTURE_GRACE:
            raise ValidationFailed("the grace period is too short",
                                   details={"grace": [f"at least {MIN_PICTURE_GRACE}"]})
        swept = [key for key in list(self._images.stored_before(self._clock.now() - grace))
                 if not self._uow.items.image_in_use(key)]
        for key in swept:
            self._images.delete(key)
        return swept

    def _replace_image(self, item: Item, key: str | None, actor: Actor) -> Item:
        updated = replace(item, image_key=key, updated_at=self._clock.now(),
                          version=item.version + 1)
        if not self._uow.items.update(updated, expected_version=item.version):
            raise PreconditionFailed("the item changed meanwhile; try again")
        self._record(actor, "item.image_changed", item.id, {"image_key": [item.image_key, key]})
        return updated

    def _ensure_category(self, category_id: str | None) -> None:
        if category_id is not None and not self._uow.categories.hold(category_id):
            raise ValidationFailed("no such category",
                                   details={"category_id": ["no such category"]})

    def _ensure_sku_free(self, sku: str | None, own_id: str | None) -> None:
        if sku is None:
            return
        holder = self._uow.items.get_by_sku(sku)
        if holder is not None and holder.id != own_id:
            raise SkuTaken(f"sku {sku!r} is taken")

    def _record(self, actor: Actor, action: str, item_id: str,
                changes: dict[str, list[Any]]) -> None:
        self._uow.audit.record(audit_event(actor, self._clock.now(), action, "item",
                                       item_id, changes))


class _NoImages:
    """For a catalog built without picture support (some tests, tools)."""

    def normalize(self, data: bytes) -> Picture:
        raise UnsupportedImage("this catalog takes no pictures")

    def put(self, picture: Picture) -> str:
        raise UnsupportedImage("this catalog takes no pictures")

    def get(self, key: str, width: int | None = None) -> Picture | None:
        return None

    def put_variant(self, key: str, width: int, picture: Picture) -> None:
        raise UnsupportedImage("this catalog takes no pictures")

    def variant(self, picture: Picture, width: int) -> Picture:
        raise UnsupportedImage("this catalog takes no pictures")

    def delete(self, key: str) -> None:
        return None

    def stored_before(self, moment: datetime) -> list[str]:
        return []

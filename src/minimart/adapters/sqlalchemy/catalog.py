"""The catalog on SQLAlchemy Core: items (listing, stock) and their categories."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Executable,
    Integer,
    Row,
    Select,
    bindparam,
    case,
    func,
    or_,
    select,
    tuple_,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from minimart.adapters.sqlalchemy.base import Repository, violates
from minimart.adapters.sqlalchemy.tables import categories, items
from minimart.domain.catalog import MAX_STOCK, Item, ItemQuery, ItemSort
from minimart.domain.categories import Category, name_key, name_taken
from minimart.domain.errors import Conflict, SkuTaken
from minimart.domain.money import Money
from minimart.domain.orders import Shortage

# The statements of the hot paths (item reads, order placement), built once.
ITEM_BY_ID = select(items).where(items.c.id == bindparam("item_id"))
ADJUST_STOCK = (items.update()
                .where(items.c.id == bindparam("item_id"),
                       items.c.stock + bindparam("delta") >= 0,
                       items.c.stock + bindparam("delta") <= MAX_STOCK)
                .values(stock=items.c.stock + bindparam("delta"), version=items.c.version + 1,
                        updated_at=bindparam("at"))
                .returning(*items.c))
# FOR NO KEY UPDATE, the lock an UPDATE takes: FOR UPDATE would also block the foreign-key
# checks of orders inserting lines for the item, and deadlock with them.
LOCKED_STOCK = (select(items.c.stock).where(items.c.id == bindparam("item_id"))
                .with_for_update(key_share=True))
_released = items.c.stock + bindparam("quantity")
RELEASE_STOCK = (items.update().where(items.c.id == bindparam("item_id"))
                 .values(stock=case((_released > MAX_STOCK, MAX_STOCK), else_=_released),
                         version=items.c.version + 1, updated_at=bindparam("at")))


_ITEM_COLUMNS = ("id", "sku", "name", "name_key", "description", "price", "stock", "available",
                 "featured", "archived", "version", "created_at", "updated_at", "category_id",
                 "image_key")
assert tuple(items.c.keys()) == _ITEM_COLUMNS, "_item_from_row unpacks the columns in order"


def _item_from_row(row: Row[Any], currency: str) -> Item:
    """A row of `select(items)`, unpacked by position: reading fifteen attributes of a Row by
    name cost more than the rest of a catalog page's rows put together."""
    (id_, sku, name, _name_key, description, price, stock, available, featured, archived,
     version, created_at, updated_at, category_id, image_key) = tuple(row)
    return Item(id=id_, sku=sku, name=name, description=description,
                price=Money(price, currency), stock=stock, available=available,
                featured=featured, archived=archived, version=version, created_at=created_at,
                updated_at=updated_at, category_id=category_id, image_key=image_key)


def _listing_shape(query: ItemQuery) -> tuple[Any, ...]:
    """What decides the listing's SQL: which filters, which order, a cursor or not. The
    values themselves are bound parameters (`_listing_values`)."""
    return (query.include_archived, bool(query.text), query.min_price is not None,
            query.max_price is not None, query.in_stock, query.available, query.featured,
            query.category_id is not None, query.sort, query.after is not None)


def _listing_values(query: ItemQuery) -> dict[str, Any]:
    values: dict[str, Any] = {"limit": query.limit, "min_price": query.min_price,
                              "max_price": query.max_price, "category_id": query.category_id}
    if query.text:
        values["pattern"] = "%" + _like_literally(query.text.lower()) + "%"
    if query.after is not None:
        values.update(after_value=query.after.value, after_id=query.after.id)
    return {key: value for key, value in values.items() if value is not None}


def _like_literally(text: str) -> str:
    """`text` for a LIKE pattern with ESCAPE '/': its %, _ and / match only themselves."""
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


@lru_cache(maxsize=256)
def _listing_statement(include_archived: bool, text: bool, min_price: bool, max_price: bool,
                       in_stock: bool, available: bool | None, featured: bool | None,
                       category: bool, sort: ItemSort, after: bool) -> Select[Any]:
    """The catalog listing of one shape, built once: a page of the catalog is the hottest
    read there is, and building its statement cost more Python than running it."""
    filters: list[ColumnElement[bool]] = []
    if not include_archived:
        filters.append(items.c.archived.is_(False))
    if text:
        pattern = bindparam("pattern", type_=items.c.name_key.type)
        filters.append(or_(items.c.name_key.like(pattern, escape="/"),
                           func.lower(items.c.description).like(pattern, escape="/")))
    if min_price:
        filters.append(items.c.price >= bindparam("min_price"))
    if max_price:
        filters.append(items.c.price <= bindparam("max_price"))
    if in_stock:
        filters.append(items.c.stock > 0)
    if available is not None:
        filters.append(items.c.available.is_(available))
    if featured is not None:
        filters.append(items.c.featured.is_(featured))
    if category:
        filters.append(items.c.category_id == bindparam("category_id"))
    column = _SORT_COLUMNS[sort.key]
    if after:
        mark = tuple_(bindparam("after_value", type_=column.type),
                      bindparam("after_id", type_=items.c.id.type))
        position = tuple_(column, items.c.id)
        filters.append(position < mark if sort.descending else position > mark)
    order = ((column.desc(), items.c.id.desc()) if sort.descending
             else (column, items.c.id))
    return (select(items).where(*filters).order_by(*order)
            .limit(bindparam("limit", type_=Integer)))


def _item_values(item: Item) -> dict[str, Any]:
    return {"sku": item.sku, "name": item.name, "name_key": item.name.lower(),
            "description": item.description, "price": item.price.amount, "stock": item.stock,
            "available": item.available, "featured": item.featured, "archived": item.archived,
            "version": item.version, "updated_at": item.updated_at,
            "category_id": item.category_id, "image_key": item.image_key}


_SORT_COLUMNS = {"name": items.c.name_key, "price": items.c.price, "created": items.c.created_at}


def _sku_conflict(sku: str | None) -> Conflict:
    return SkuTaken(f"sku {sku!r} is taken")


class SqlAlchemyItemRepository(Repository):
    def __init__(self, session: Session, currency: str) -> None:
        super().__init__(session)
        self._currency = currency

    def add(self, item: Item) -> None:
        try:
            self._write(items.insert().values(id=item.id, created_at=item.created_at,
                                              **_item_values(item)))
        except IntegrityError as error:
            if not violates(error, "uq_items_sku"):
                raise
            raise _sku_conflict(item.sku) from error

    def get(self, item_id: str) -> Item | None:
        row = self._session.execute(ITEM_BY_ID, {"item_id": item_id}).first()
        return None if row is None else _item_from_row(row, self._currency)

    def get_by_sku(self, sku: str) -> Item | None:
        row = self._session.execute(select(items).where(items.c.sku == sku)).first()
        return None if row is None else _item_from_row(row, self._currency)

    def find(self, query: ItemQuery) -> Sequence[Item]:
        rows = self._session.execute(_listing_statement(*_listing_shape(query)),
                                     _listing_values(query))
        return [_item_from_row(row, self._currency) for row in rows]

    def update(self, item: Item, expected_version: int) -> bool:
        statement = (items.update()
                     .where(items.c.id == item.id, items.c.version == expected_version)
                     .values(**_item_values(item)))
        try:
            return self._write(statement).rowcount == 1
        except IntegrityError as error:
            if not violates(error, "uq_items_sku"):
                raise
            raise _sku_conflict(item.sku) from error

    def adjust_stock(self, item_id: str, delta: int, at: datetime) -> Item | None:
        row = self._write(ADJUST_STOCK, {"item_id": item_id, "delta": delta, "at": at}).first()
        return None if row is None else _item_from_row(row, self._currency)

    def archive(self, item_id: str, at: datetime) -> None:
        self._write(items.update().where(items.c.id == item_id)
                    .values(archived=True, version=items.c.version + 1, updated_at=at))

    def count(self) -> int:
        return self._session.execute(select(func.count()).select_from(items)).scalar_one()

    def low_stock(self, threshold: int, limit: int) -> Sequence[Item]:
        statement = (select(items)
                     .where(items.c.archived.is_(False), items.c.stock <= threshold)
                     .order_by(items.c.stock, items.c.name_key, items.c.id).limit(limit))
        return [_item_from_row(row, self._currency) for row in self._session.execute(statement)]

    def image_in_use(self, key: str) -> bool:
        return self._session.execute(
            select(items.c.id).where(items.c.image_key == key).limit(1)).first() is not None

    def reserve_stock(self, quantities: dict[str, int], at: datetime) -> list[Shortage]:
        """Conditional decrements in item-id order (so racing orders lock rows in one order
        and cannot deadlock); on any shortage, put back what was taken and report every
        short line.

        A decrement that matched no row decides the line, whatever a later read says: a
        cancellation committed between the two must not turn "short" into "taken" with
        nothing taken. The line gets one more try under the row lock, where the stock read
        is the stock the second decrement sees.
        """
        taken: dict[str, int] = {}
        shortages: list[Shortage] = []
        for item_id, wanted in sorted(quantities.items()):
            if self.adjust_stock(item_id, -wanted, at) is not None:
                taken[item_id] = wanted
                continue
            available = self._locked_stock(item_id)
            if available >= wanted and self.adjust_stock(item_id, -wanted, at) is not None:
                taken[item_id] = wanted
            else:
                shortages.append(Shortage(item_id, wanted, available))
        if shortages:
            self.release_stock(taken, at)
        return shortages

    def _locked_stock(self, item_id: str) -> int:
        """The item's stock, its row locked until the transaction ends (0 if it is gone)."""
        stock = self._session.execute(LOCKED_STOCK, {"item_id": item_id}).scalar()
        return 0 if stock is None else stock

    def release_stock(self, quantities: dict[str, int], at: datetime) -> None:
        """Put units back, in item-id order like reserve_stock. Capped at MAX_STOCK: units
        that were adjusted in while others were held could otherwise overflow the column and
        leave an order that can never be cancelled."""
        for item_id, quantity in sorted(quantities.items()):
            self._write(RELEASE_STOCK, {"item_id": item_id, "quantity": quantity, "at": at})


class SqlAlchemyCategoryRepository(Repository):
    def add(self, category: Category) -> None:
        self._named_write(category, categories.insert().values(
            id=category.id, name=category.name, name_key=name_key(category.name),
            description=category.description, position=category.position,
            created_at=category.created_at, updated_at=category.updated_at))

    def _named_write(self, category: Category, statement: Executable) -> None:
        """The unique name_key decides between requests racing for one name: 409."""
        try:
            self._write(statement)
        except IntegrityError as error:
            if not violates(error, "uq_categories_name_key"):
                raise
            raise name_taken(category.name) from error

    def name_taken(self, key: str, except_id: str | None = None) -> bool:
        statement = select(categories.c.id).where(categories.c.name_key == key)
        if except_id is not None:
            statement = statement.where(categories.c.id != except_id)
        return self._session.execute(statement.limit(1)).first() is not None

    def hold(self, category_id: str) -> bool:
        """FOR KEY SHARE: what the foreign key check would take, taken before the item is
        written, so a delete (FOR UPDATE) either waits for this move or is seen by it."""
        statement = (select(categories.c.id).where(categories.c.id == category_id)
                     .with_for_update(key_share=True))
        return self._session.execute(statement).first() is not None

    def _select(self) -> Select[Any]:
        shown = (select(func.count()).where(items.c.category_id == categories.c.id,
                                            items.c.archived.is_(False))
                 .correlate(categories).scalar_subquery())
        return select(categories, shown.label("item_count"))

    @staticmethod
    def _from_row(row: Row[Any]) -> Category:
        return Category(id=row.id, name=row.name, description=row.description,
                        position=row.position, created_at=row.created_at,
                        updated_at=row.updated_at, item_count=row.item_count)

    def get(self, category_id: str) -> Category | None:
        row = self._session.execute(self._select().where(categories.c.id == category_id)).first()
        return None if row is None else self._from_row(row)

    def list_with_counts(self) -> list[Category]:
        statement = self._select().order_by(categories.c.position, categories.c.id)
        return [self._from_row(row) for row in self._session.execute(statement)]

    def next_position(self) -> int:
        highest = self._session.execute(select(func.max(categories.c.position))).scalar()
        return (highest or 0) + 1

    def update(self, category: Category) -> None:
        self._named_write(category, categories.update().where(
            categories.c.id == category.id).values(
            name=category.name, name_key=name_key(category.name),
            description=category.description, position=category.position,
            updated_at=category.updated_at))

    def delete(self, category_id: str, at: datetime) -> int:
        """The category row is locked first: an item being moved into it (which holds it,
        FOR KEY SHARE) finishes before its items are emptied, or waits and finds it gone."""
        self._session.execute(select(categories.c.id).where(categories.c.id == category_id)
                              .with_for_update())
        emptied = self._write(items.update().where(items.c.category_id == category_id)
                              .values(category_id=None, version=items.c.version + 1,
                                      updated_at=at)).rowcount
        self._write(categories.delete().where(categories.c.id == category_id))
        return emptied

"""Repositories on SQLAlchemy Core through the request's Session (so pyramid_tm owns commits).

Core statements are invisible to zope.sqlalchemy's change tracking, so every write marks
the session changed; otherwise the transaction manager would roll the work back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Executable,
    Integer,
    Row,
    Select,
    Table,
    bindparam,
    case,
    func,
    or_,
    select,
    tuple_,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from zope.sqlalchemy import mark_changed

from minimart.adapters.sqlalchemy.tables import (
    accounts,
    audit_events,
    categories,
    ended_sign_ins,
    items,
    login_failures,
    registration_attempts,
    store_settings,
)
from minimart.domain.accounts import Account
from minimart.domain.actors import Role
from minimart.domain.audit import AuditEvent, AuditQuery
from minimart.domain.catalog import MAX_STOCK, Item, ItemQuery, ItemSort
from minimart.domain.categories import Category, name_key, name_taken
from minimart.domain.errors import Conflict
from minimart.domain.money import Money
from minimart.domain.orders import Shortage
from minimart.domain.store import StoreSettings


class Repository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def _write(self, statement: Executable, parameters: Any = None) -> Any:
        result = self._session.execute(statement, parameters)
        mark_changed(self._session)
        return result


# The statements of the hot paths (item reads, order placement), built once: a statement
# built per call costs more Python than the database takes to run it. Values travel as
# bound parameters.
ITEM_BY_ID = select(items).where(items.c.id == bindparam("item_id"))
ACCOUNT_BY_ID = select(accounts).where(accounts.c.id == bindparam("account_id"))
STORE_SETTINGS = select(store_settings)
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
AUDIT_INSERT = audit_events.insert()


def upsert_insert(session: Session, table: Table) -> Any:
    """An INSERT that takes ON CONFLICT clauses, in the session's SQL dialect (PostgreSQL and
    SQLite spell them alike)."""
    return _dialect_insert(session.get_bind().dialect.name, table)


def _dialect_insert(dialect: str, table: Table) -> Any:
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


def insert_or_skip(session: Session, table: Table, values: dict[str, Any],
                   returning: Column[Any]) -> bool:
    """INSERT .. ON CONFLICT DO NOTHING; True if this call inserted the row. A concurrent
    insert of the same key waits until the first transaction ends."""
    statement = _insert_or_skip(session.get_bind().dialect.name, table, returning)
    inserted = session.execute(statement, values).first() is not None
    mark_changed(session)
    return inserted


@cache
def _insert_or_skip(dialect: str, table: Table, returning: Column[Any]) -> Any:
    return _dialect_insert(dialect, table).on_conflict_do_nothing().returning(returning)


_ITEM_COLUMNS = ("id", "sku", "name", "name_key", "description", "price", "stock", "available",
                 "featured", "archived", "version", "created_at", "updated_at", "category_id",
                 "image_key")
assert tuple(items.c.keys()) == _ITEM_COLUMNS, "_item_from_row unpacks the columns in order"


def _item_from_row(row: Row[Any], currency: str) -> Item:
    """A row of `select(items)`, unpacked by position: reading fifteen attributes of a Row by
    name cost more than the rest of a catalog page's rows put together."""
    (id_, sku, name, _name_key, description, price, stock, available, featured, archived,
     version, created_at, updated_at, category_id, image_key) = row
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


# A unique constraint and the column SQLite names when it refuses a write for it.
_UNIQUE_COLUMNS = {"uq_items_sku": "items.sku", "uq_accounts_email": "accounts.email",
                   "uq_categories_name_key": "categories.name_key"}


def _violates(error: IntegrityError, constraint: str) -> bool:
    """Whether the database refused the write for this unique constraint, not another."""
    text = str(error.orig)
    return (constraint in text
            or f"UNIQUE constraint failed: {_UNIQUE_COLUMNS[constraint]}" in text)


def _sku_conflict(sku: str | None) -> Conflict:
    return Conflict(f"sku {sku!r} is taken", code="sku_taken")


class SqlAlchemyItemRepository(Repository):
    def __init__(self, session: Session, currency: str) -> None:
        super().__init__(session)
        self._currency = currency

    def add(self, item: Item) -> None:
        try:
            self._write(items.insert().values(id=item.id, created_at=item.created_at,
                                              **_item_values(item)))
        except IntegrityError as error:
            if not _violates(error, "uq_items_sku"):
                raise
            raise _sku_conflict(item.sku) from error

    def get(self, item_id: str) -> Item | None:
        row = self._session.execute(ITEM_BY_ID, {"item_id": item_id}).first()
        return None if row is None else _item_from_row(row, self._currency)

    def get_by_sku(self, sku: str) -> Item | None:
        row = self._session.execute(select(items).where(items.c.sku == sku)).first()
        return None if row is None else _item_from_row(row, self._currency)

    def list(self, query: ItemQuery) -> Sequence[Item]:
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
            if not _violates(error, "uq_items_sku"):
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
            if not _violates(error, "uq_categories_name_key"):
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


class SqlAlchemyStoreSettingsRepository(Repository):
    """One row (id = 1); the currency is the ini's and is not stored."""

    def __init__(self, session: Session, currency: str) -> None:
        super().__init__(session)
        self._currency = currency

    def get(self) -> StoreSettings | None:
        row = self._session.execute(STORE_SETTINGS).first()
        if row is None:
            return None
        hours = {day: [(start, end) for start, end in spans]
                 for day, spans in row.opening_hours.items()}
        return StoreSettings(name=row.name, currency=self._currency,
                             tax_rate_bps=row.tax_rate_bps, delivery_fee=row.delivery_fee,
                             minimum_order=row.minimum_order, open=row.open,
                             opening_hours=hours, time_zone=row.time_zone)

    def save(self, settings: StoreSettings, at: datetime) -> None:
        values = {**settings.fields(), "updated_at": at}
        if not insert_or_skip(self._session, store_settings, {"id": 1, **values},
                              store_settings.c.id):
            self._write(store_settings.update().where(store_settings.c.id == 1)
                        .values(**values))


def _account_from_row(row: Row[Any]) -> Account:
    return Account(id=row.id, email=row.email, name=row.name, role=Role(row.role),
                   password_hash=row.password_hash, disabled=row.disabled,
                   created_at=row.created_at, payment_customer_id=row.payment_customer_id,
                   token_generation=row.token_generation, totp_secret=row.totp_secret,
                   totp_enabled=row.totp_enabled, recovery_codes=tuple(row.recovery_codes),
                   totp_last_step=row.totp_last_step)


def _changeable(account: Account) -> dict[str, Any]:
    return {"password_hash": account.password_hash, "disabled": account.disabled,
            "token_generation": account.token_generation, "totp_secret": account.totp_secret,
            "totp_enabled": account.totp_enabled,
            "recovery_codes": list(account.recovery_codes),
            "totp_last_step": account.totp_last_step}


class SqlAlchemyEndedSignIns(Repository):
    def end(self, sign_in_id: str, until: datetime, now: datetime) -> None:
        self._write(ended_sign_ins.delete().where(ended_sign_ins.c.until <= now))
        insert_or_skip(self._session, ended_sign_ins, {"id": sign_in_id, "until": until},
                       ended_sign_ins.c.id)

    def has_ended(self, sign_in_id: str) -> bool:
        return self._session.execute(select(ended_sign_ins.c.id).where(
            ended_sign_ins.c.id == sign_in_id)).first() is not None


@cache
def _take_statement(dialect: str, table: Table) -> Any:
    """Count one attempt unless its window is full: an upsert whose update is conditional
    (a new window starts when the old one has passed), returning the row only if counted."""
    started = table.c.window_started_at
    insert = _dialect_insert(dialect, table).values(
        key=bindparam("key", type_=table.c.key.type), count=1,
        window_started_at=bindparam("at", type_=started.type))
    expired = started <= bindparam("expired_before", type_=started.type)
    return insert.on_conflict_do_update(
        index_elements=[table.c.key],
        set_={"count": case((expired, 1), else_=table.c.count + 1),
              "window_started_at": case((expired, insert.excluded.window_started_at),
                                        else_=started)},
        where=or_(expired, table.c.count < bindparam("limit", type_=Integer)),
    ).returning(table.c.count)


class SqlAlchemyThrottle(Repository):
    """Attempt counters in a table of (key, count, window_started_at)."""

    table: Table

    def take(self, key: str, limit: int, at: datetime, window: timedelta) -> datetime | None:
        """One upsert: PostgreSQL locks the row whether it counts or not, so racing takes
        of a key queue behind each other's transactions and each sees the count the one
        before left (SQLite has one writer at a time)."""
        statement = _take_statement(self._session.get_bind().dialect.name, self.table)
        counted = self._write(statement, {"key": key, "at": at, "limit": limit,
                                          "expired_before": at - window}).first()
        if counted is not None:
            return None
        started = self._session.execute(select(self.table.c.window_started_at)
                                        .where(self.table.c.key == key)).scalar_one()
        return started + window

    def give_back(self, key: str) -> None:
        table = self.table
        left = self._write(table.update().where(table.c.key == key, table.c.count > 0)
                           .values(count=table.c.count - 1).returning(table.c.count)).scalar()
        if left == 0:
            self._write(table.delete().where(table.c.key == key, table.c.count <= 0))

    def clear(self, key: str) -> None:
        self._write(self.table.delete().where(self.table.c.key == key))

    def back_off(self, key: str, at: datetime, wait: Callable[[int], timedelta],
                 forget_after: timedelta) -> datetime | None:
        """`window_started_at` holds the last counted attempt. The row is made if missing,
        then locked: racing attempts of a key queue behind each other's transactions (and
        one that finds the row deleted meanwhile, by a success or a give-back, makes it
        again)."""
        table = self.table
        found = None
        while found is None:
            insert_or_skip(self._session, table,
                           {"key": key, "count": 0, "window_started_at": at}, table.c.key)
            found = self._session.execute(
                select(table.c.count, table.c.window_started_at)
                .where(table.c.key == key).with_for_update()).first()
        count, last = found
        if last <= at - forget_after:
            count, last = 0, at
        delay = wait(count)
        if delay and at < last + delay:
            return last + delay
        self._write(table.update().where(table.c.key == key)
                    .values(count=count + 1, window_started_at=max(last, at)))
        return None

    def clear_prefixed(self, key: str, prefix: str) -> int:
        table = self.table
        return self._write(table.delete().where(or_(
            table.c.key == key, table.c.key.startswith(prefix, autoescape=True)))).rowcount

    def forget_before(self, before: datetime) -> int:
        table = self.table
        return self._write(table.delete().where(table.c.window_started_at < before)).rowcount


class SqlAlchemyLoginThrottle(SqlAlchemyThrottle):
    """Sign-in attempts per account and per client address."""

    table = login_failures


class SqlAlchemyRegistrationThrottle(SqlAlchemyThrottle):
    """Registrations per client address."""

    table = registration_attempts


class SqlAlchemyAccountRepository(Repository):
    def add(self, account: Account) -> None:
        try:
            self._write(accounts.insert().values(
                id=account.id, email=account.email, name=account.name, role=account.role.value,
                created_at=account.created_at, **_changeable(account)))
        except IntegrityError as error:
            if not _violates(error, "uq_accounts_email"):
                raise
            raise Conflict("an account with this email exists", code="email_taken") from error

    def get(self, account_id: str) -> Account | None:
        row = self._session.execute(ACCOUNT_BY_ID, {"account_id": account_id}).first()
        return None if row is None else _account_from_row(row)

    def get_by_email(self, email: str) -> Account | None:
        row = self._session.execute(select(accounts).where(accounts.c.email == email)).first()
        return None if row is None else _account_from_row(row)

    def set_password_hash(self, account_id: str, password_hash: str) -> None:
        self._write(accounts.update().where(accounts.c.id == account_id)
                    .values(password_hash=password_hash))

    def save(self, account: Account) -> None:
        self._write(accounts.update().where(accounts.c.id == account.id)
                    .values(**_changeable(account)))

    def use_totp_step(self, account_id: str, step: int) -> bool:
        """One conditional UPDATE: a racing sign-in with the same code waits for the row
        lock, then finds the step taken."""
        last = accounts.c.totp_last_step
        return self._write(accounts.update()
                           .where(accounts.c.id == account_id,
                                  or_(last.is_(None), last < step))
                           .values(totp_last_step=step)).rowcount == 1

    def spend_recovery_code(self, account_id: str, digest: str) -> bool:
        """Read the codes under a row lock (PostgreSQL; SQLite has one writer at a time) and
        write them back without this one: a racing sign-in waits, then finds it spent."""
        codes = self._session.execute(
            select(accounts.c.recovery_codes).where(accounts.c.id == account_id)
            .with_for_update()).scalar_one()
        if digest not in codes:
            return False
        self._write(accounts.update().where(accounts.c.id == account_id)
                    .values(recovery_codes=[code for code in codes if code != digest]))
        return True

    def set_payment_customer(self, account_id: str, customer_id: str) -> str:
        self._write(accounts.update()
                    .where(accounts.c.id == account_id, accounts.c.payment_customer_id.is_(None))
                    .values(payment_customer_id=customer_id))
        return self._session.execute(select(accounts.c.payment_customer_id)
                                     .where(accounts.c.id == account_id)).scalar_one()


class SqlAlchemyAuditLog(Repository):
    def record(self, event: AuditEvent) -> None:
        self._write(AUDIT_INSERT, {
            "id": event.id, "at": event.at, "actor_id": event.actor_id, "action": event.action,
            "entity_type": event.entity_type, "entity_id": event.entity_id,
            "changes": event.changes, "request_id": event.request_id})

    def list(self, query: AuditQuery) -> list[AuditEvent]:
        statement = select(audit_events)
        for column, value in ((audit_events.c.entity_type, query.entity_type),
                              (audit_events.c.entity_id, query.entity_id),
                              (audit_events.c.actor_id, query.actor_id)):
            if value is not None:
                statement = statement.where(column == value)
        if query.after is not None:
            mark = tuple_(bindparam(None, query.after.value, type_=audit_events.c.at.type),
                          bindparam(None, query.after.id, type_=audit_events.c.id.type))
            statement = statement.where(tuple_(audit_events.c.at, audit_events.c.id) < mark)
        statement = statement.order_by(audit_events.c.at.desc(), audit_events.c.id.desc())
        return [AuditEvent(id=r.id, at=r.at, actor_id=r.actor_id, action=r.action,
                           entity_type=r.entity_type, entity_id=r.entity_id, changes=r.changes,
                           request_id=r.request_id)
                for r in self._session.execute(statement.limit(query.limit))]


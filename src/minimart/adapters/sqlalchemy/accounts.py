"""Accounts and sign-ins on SQLAlchemy Core: accounts with their second factor, the
sign-ins ended by signing out, and the attempt counters of the sign-in and registration
throttles."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Integer, Row, Table, bindparam, case, or_, select
from sqlalchemy.exc import IntegrityError

from minimart.adapters.sqlalchemy.base import (
    Repository,
    dialect_insert,
    insert_or_skip,
    violates,
)
from minimart.adapters.sqlalchemy.tables import (
    accounts,
    ended_sign_ins,
    login_failures,
    registration_attempts,
)
from minimart.domain.accounts import Account
from minimart.domain.actors import Role
from minimart.domain.errors import EmailTaken

# Read on every authenticated request: built once.
ACCOUNT_BY_ID = select(accounts).where(accounts.c.id == bindparam("account_id"))


def _account_from_row(row: Row[Any]) -> Account:
    return Account(id=row.id, email=row.email, name=row.name, role=Role(row.role),
                   password_hash=row.password_hash, disabled=row.disabled,
                   created_at=row.created_at, payment_customer_id=row.payment_customer_id,
                   token_generation=row.token_generation, totp_secret=row.totp_secret,
                   totp_enabled=row.totp_enabled, recovery_codes=tuple(row.recovery_codes),
                   totp_last_step=row.totp_last_step, phone=row.phone)


def _changeable(account: Account) -> dict[str, Any]:
    return {"name": account.name, "phone": account.phone,
            "password_hash": account.password_hash, "disabled": account.disabled,
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
    insert = dialect_insert(dialect, table).values(
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
                id=account.id, email=account.email, role=account.role.value,
                created_at=account.created_at, **_changeable(account)))
        except IntegrityError as error:
            if not violates(error, "uq_accounts_email"):
                raise
            raise EmailTaken("an account with this email exists") from error

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

"""Accounts, roles and what each role may do, plus registration and sign-in."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from minimart.domain.audit import AuditEvent
from minimart.domain.errors import Conflict, Forbidden, InvalidCredentials, ValidationFailed
from minimart.domain.ids import new_id
from minimart.domain.ports import AccountRepository, AuditLog, Clock, PasswordHasher

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # hashing a megabyte "password" is a cheap denial of service


class Role(enum.StrEnum):
    CUSTOMER = "customer"
    STAFF = "staff"
    ADMIN = "admin"


class Permission(enum.StrEnum):
    VIEW_OWN_ACCOUNT = "account.self"
    PLACE_ORDERS = "orders.place"
    CATALOG_WRITE = "catalog.write"
    ORDERS_MANAGE = "orders.manage"
    REFUNDS = "refunds"
    AUDIT_READ = "audit.read"
    ACCOUNTS_MANAGE = "accounts.manage"
    STORE_MANAGE = "store.manage"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.CUSTOMER: frozenset({Permission.VIEW_OWN_ACCOUNT, Permission.PLACE_ORDERS}),
    Role.STAFF: frozenset({Permission.VIEW_OWN_ACCOUNT, Permission.PLACE_ORDERS,
                           Permission.CATALOG_WRITE, Permission.ORDERS_MANAGE}),
    Role.ADMIN: frozenset(Permission),
}


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: a signed-in account, an anonymous visitor, or the system (CLI, cron)."""

    account_id: str | None
    role: Role | None = None
    request_id: str | None = None
    is_system: bool = False

    @classmethod
    def anonymous(cls, request_id: str | None = None) -> Actor:
        return cls(account_id=None, request_id=request_id)

    @classmethod
    def system(cls, request_id: str | None = None) -> Actor:
        return cls(account_id=None, request_id=request_id, is_system=True)

    def can(self, permission: Permission) -> bool:
        if self.is_system:
            return True
        return self.role is not None and permission in ROLE_PERMISSIONS[self.role]

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            raise Forbidden(f"this action needs the {permission} permission")


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    email: str
    name: str
    role: Role
    password_hash: str
    created_at: datetime
    disabled: bool = False
    payment_customer_id: str | None = None  # the account's customer at the payment provider


def normalize_email(email: str) -> str:
    """Emails are unique case-insensitively, so they are kept in one case."""
    return email.strip().lower()


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            "password too short",
            details={"password": [f"must be at least {MIN_PASSWORD_LENGTH} characters"]})
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationFailed(
            "password too long",
            details={"password": [f"must be at most {MAX_PASSWORD_LENGTH} characters"]})


class AccountService:
    def __init__(self, accounts: AccountRepository, hasher: PasswordHasher, audit: AuditLog,
                 clock: Clock) -> None:
        self._accounts = accounts
        self._hasher = hasher
        self._audit = audit
        self._clock = clock

    def register(self, email: str, password: str, name: str, actor: Actor) -> Account:
        """A shopper signs up; the public road only ever makes customers."""
        return self._create(email, password, name, Role.CUSTOMER, actor)

    def create_account(self, email: str, password: str, name: str, role: Role,
                       actor: Actor) -> Account:
        """Staff and admins are made by someone allowed to manage accounts (the owner's CLI)."""
        actor.require(Permission.ACCOUNTS_MANAGE)
        return self._create(email, password, name, role, actor)

    def _create(self, email: str, password: str, name: str, role: Role,
                actor: Actor) -> Account:
        check_password_rules(password)
        email = normalize_email(email)
        if self._accounts.get_by_email(email) is not None:
            raise Conflict("an account with this email exists", code="email_taken")
        now = self._clock.now()
        account = Account(id=new_id(), email=email, name=name.strip(), role=role,
                          password_hash=self._hasher.hash(password), created_at=now)
        self._accounts.add(account)
        self._audit.record(AuditEvent(
            # a shopper signing up acts for themselves; the CLI acts as the system
            id=new_id(), at=now,
            actor_id=account.id if actor.account_id is None and not actor.is_system
            else actor.account_id,
            action="account.created", entity_type="account", entity_id=account.id,
            changes={"email": [None, email], "name": [None, account.name],
                     "role": [None, role.value]},
            request_id=actor.request_id))
        return account

    def authenticate(self, email: str, password: str) -> Account:
        """The same answer for an unknown email and a wrong password, in about the same time."""
        account = self._accounts.get_by_email(normalize_email(email))
        if account is None or account.disabled:
            self._hasher.verify(self._hasher.dummy_hash(), password)
            raise InvalidCredentials("wrong email or password")
        if not self._hasher.verify(account.password_hash, password):
            raise InvalidCredentials("wrong email or password")
        if self._hasher.needs_rehash(account.password_hash):
            self._accounts.set_password_hash(account.id, self._hasher.hash(password))
        return account

    def find_active(self, account_id: str) -> Account | None:
        """The account behind a token, if it still exists and may still sign in."""
        account = self._accounts.get(account_id)
        if account is None or account.disabled:
            return None
        return account

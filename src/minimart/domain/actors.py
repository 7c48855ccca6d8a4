"""Who acts: roles, what each role may do, and the actor a service is called for."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from minimart.domain.errors import Forbidden


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
    SECOND_FACTOR = "account.second_factor"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.CUSTOMER: frozenset({Permission.VIEW_OWN_ACCOUNT, Permission.PLACE_ORDERS}),
    Role.STAFF: frozenset({Permission.VIEW_OWN_ACCOUNT, Permission.PLACE_ORDERS,
                           Permission.CATALOG_WRITE, Permission.ORDERS_MANAGE,
                           Permission.SECOND_FACTOR}),
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

    @property
    def audit_id(self) -> str | None:
        """Who the audit trail names: the account, "system" for the CLI and cron, or nobody."""
        return "system" if self.is_system else self.account_id

    def can(self, permission: Permission) -> bool:
        if self.is_system:
            return True
        return self.role is not None and permission in ROLE_PERMISSIONS[self.role]

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            raise Forbidden(f"this action needs the {permission} permission")

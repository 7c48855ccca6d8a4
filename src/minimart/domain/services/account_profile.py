"""An account's profile (name and phone) changed by its owner: AccountService hands this
part to AccountProfile, which it builds itself."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from minimart.domain.accounts import Account, check_name, check_phone, masked_phone
from minimart.domain.actors import Actor, Permission
from minimart.domain.audit import Changes, audit_event
from minimart.domain.errors import Forbidden, NotFound, ValidationFailed
from minimart.domain.ports.clock import Clock
from minimart.domain.ports.unit_of_work import UnitOfWork

PROFILE_FIELDS = frozenset({"name", "phone"})


class AccountProfile:
    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    def update(self, account_id: str, changes: Mapping[str, str | None],
               actor: Actor) -> Account:
        """Apply `changes` ({"name"?, "phone"?}, at least one; phone None clears it) to the
        actor's own account. The name follows the sign-up rules and the phone E.164, for
        every driver. Audited as `account.updated` with the fields that changed: the name
        as [old, new], the phone masked (masked_phone). Changing nothing writes nothing."""
        actor.require(Permission.VIEW_OWN_ACCOUNT)
        if actor.account_id != account_id:
            raise Forbidden("only the account's owner changes its profile")
        unknown = set(changes) - PROFILE_FIELDS
        if unknown or not changes:
            raise ValidationFailed(
                "name a field of the profile to change",
                details={field: ["unknown field"] for field in sorted(unknown)}
                or {"_schema": ["name at least one field to change"]})
        name = changes.get("name")
        if "name" in changes:
            if name is None:
                raise ValidationFailed("name is required", details={"name": ["must be given"]})
            name = check_name(name)
        phone = changes.get("phone")
        check_phone(phone)
        account = self._uow.accounts.get(account_id)
        if account is None:
            raise NotFound("no such account")
        updated = replace(account, name=account.name if name is None else name,
                          phone=phone if "phone" in changes else account.phone)
        audited: Changes = {}
        if updated.name != account.name:
            audited["name"] = [account.name, updated.name]
        if updated.phone != account.phone:
            audited["phone"] = [masked_phone(account.phone), masked_phone(updated.phone)]
        if not audited:
            return account
        self._uow.accounts.save(updated)
        self._uow.audit.record(audit_event(actor, self._clock.now(), "account.updated",
                                           "account", account.id, audited))
        return updated

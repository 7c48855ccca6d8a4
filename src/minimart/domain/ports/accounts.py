"""Accounts, their passwords, second factors and sign-in throttles."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from minimart.domain.accounts import Account


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool: ...

    def needs_rehash(self, password_hash: str) -> bool: ...

    def dummy_hash(self) -> str:
        """A valid hash of nothing in particular, to spend equal time on unknown accounts."""
        ...


class AccountRepository(Protocol):
    def add(self, account: Account) -> None:
        """Store a new account; a taken email raises EmailTaken."""
        ...

    def get(self, account_id: str) -> Account | None: ...

    def get_by_email(self, email: str) -> Account | None: ...

    def set_password_hash(self, account_id: str, password_hash: str) -> None: ...

    def save(self, account: Account) -> None:
        """Write the account's changeable fields (password, disabled, tokens, second factor)."""
        ...

    def set_payment_customer(self, account_id: str, customer_id: str) -> str:
        """Store the provider's customer id unless one is stored already; return the stored."""
        ...

    def use_totp_step(self, account_id: str, step: int) -> bool:
        """Record `step` as the newest accepted TOTP step if it is newer than the stored
        one; False when it is not (a replayed code). Atomic: of two sign-ins racing with
        one code, one wins."""
        ...

    def spend_recovery_code(self, account_id: str, digest: str) -> bool:
        """Remove one unused recovery code; False when it is not (or no longer) there.
        Atomic: of two sign-ins racing with one code, one wins."""
        ...


class EndedSignIns(Protocol):
    """Browser sign-ins ended by signing out, kept where every process sees them until the
    session cookie they were in would have expired anyway."""

    def end(self, sign_in_id: str, until: datetime, now: datetime) -> None:
        """Record the sign-in as ended until `until`; drop records whose time has passed."""
        ...

    def has_ended(self, sign_in_id: str) -> bool: ...


class Throttle(Protocol):
    """Attempt counters per key (sign-ins per account or address, registrations per
    address) in fixed windows, kept where every process sees them."""

    def take(self, key: str, limit: int, at: datetime, window: timedelta) -> datetime | None:
        """Count one attempt if its window holds fewer than `limit`, starting a new window
        when the last one has passed; None when counted, else when the full window ends.
        Atomic: a racing take of the same key waits until this one's transaction ends, so
        of any number of racing attempts at most `limit` are counted."""
        ...

    def give_back(self, key: str) -> None:
        """Uncount one attempt that turned out harmless; a count of none is forgotten."""
        ...

    def clear(self, key: str) -> None: ...

    def back_off(self, key: str, at: datetime, wait: Callable[[int], timedelta],
                 forget_after: timedelta) -> datetime | None:
        """Count one attempt unless `wait(count)` has not yet passed since the key's last
        counted attempt; None when counted, else when the wait ends. A key quiet for
        `forget_after` starts again from nothing. Atomic like `take`."""
        ...

    def clear_prefixed(self, key: str, prefix: str) -> int:
        """Forget `key` and every key starting with `prefix`; how many there were."""
        ...

    def forget_before(self, before: datetime) -> int:
        """Drop the counters last started or counted before `before` (they count for
        nothing any more); how many."""
        ...


class OneTimePasswords(Protocol):
    """Time-based one-time passwords (RFC 6238) for two-factor sign-in."""

    def new_secret(self) -> str: ...

    def uri(self, secret: str, account_name: str, issuer: str) -> str:
        """The otpauth:// URI an authenticator app reads (usually from a QR code)."""
        ...

    def matching_step(self, secret: str, code: str, at: datetime) -> int | None:
        """The time step whose code this is (one step of clock drift allowed), or None.
        Steps grow with time, so a sign-in can refuse a step it has already accepted."""
        ...

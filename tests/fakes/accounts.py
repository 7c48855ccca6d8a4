"""Accounts, sign-in throttles and one-time passwords in memory."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from minimart.domain.accounts import Account
from minimart.domain.errors import EmailTaken


class MemoryEndedSignIns:
    def __init__(self) -> None:
        self.ended: dict[str, datetime] = {}

    def end(self, sign_in_id: str, until: datetime, now: datetime) -> None:
        self.ended = {key: when for key, when in self.ended.items() if when > now}
        self.ended[sign_in_id] = until

    def has_ended(self, sign_in_id: str) -> bool:
        return sign_in_id in self.ended


class MemoryThrottle:
    """Attempt counters: key -> (count, start of its window)."""

    def __init__(self) -> None:
        self.counters: dict[str, tuple[int, datetime]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, limit: int, at: datetime, window: timedelta) -> datetime | None:
        with self._lock:
            count, started = self.counters.get(key, (0, at))
            if started <= at - window:
                count, started = 0, at
            if count >= limit:
                return started + window
            self.counters[key] = (count + 1, started)
            return None

    def give_back(self, key: str) -> None:
        with self._lock:
            found = self.counters.get(key)
            if found is None:
                return
            if found[0] <= 1:
                del self.counters[key]
            else:
                self.counters[key] = (found[0] - 1, found[1])

    def clear(self, key: str) -> None:
        with self._lock:
            self.counters.pop(key, None)

    def back_off(self, key: str, at: datetime, wait: Callable[[int], timedelta],
                 forget_after: timedelta) -> datetime | None:
        """Counters of this kind keep (count, last counted attempt)."""
        with self._lock:
            count, last = self.counters.get(key, (0, at))
            if last <= at - forget_after:
                count, last = 0, at
            delay = wait(count)
            if delay and at < last + delay:
                return last + delay
            self.counters[key] = (count + 1, max(last, at))
            return None

    def clear_prefixed(self, key: str, prefix: str) -> int:
        with self._lock:
            found = [k for k in self.counters if k == key or k.startswith(prefix)]
            for k in found:
                del self.counters[k]
            return len(found)

    def forget_before(self, before: datetime) -> int:
        with self._lock:
            old = [k for k, (_, started) in self.counters.items() if started < before]
            for k in old:
                del self.counters[k]
            return len(old)


class FakeOneTimePasswords:
    """Codes are the secret's name plus the minute: predictable, for unit tests only."""

    def __init__(self) -> None:
        self.issued = 0

    def new_secret(self) -> str:
        self.issued += 1
        return f"SECRET{self.issued}"

    def uri(self, secret: str, account_name: str, issuer: str) -> str:
        return f"otpauth://totp/{issuer}:{account_name}?secret={secret}&issuer={issuer}"

    def code(self, secret: str, at: datetime) -> str:
        return f"{abs(hash((secret, at.replace(second=0, microsecond=0)))) % 1_000_000:06d}"

    def matching_step(self, secret: str, code: str, at: datetime) -> int | None:
        """The minute, as the step."""
        return int(at.timestamp()) // 60 if code == self.code(secret, at) else None


class MemoryAccountRepository:
    def __init__(self) -> None:
        self._accounts: dict[str, Account] = {}

    def add(self, account: Account) -> None:
        if self.get_by_email(account.email) is not None:
            raise EmailTaken("an account with this email exists")
        self._accounts[account.id] = account

    def get(self, account_id: str) -> Account | None:
        return self._accounts.get(account_id)

    def get_by_email(self, email: str) -> Account | None:
        return next((a for a in self._accounts.values() if a.email == email), None)

    def set_password_hash(self, account_id: str, password_hash: str) -> None:
        self._accounts[account_id] = replace(self._accounts[account_id],
                                             password_hash=password_hash)

    def save(self, account: Account) -> None:
        self._accounts[account.id] = account

    def set_payment_customer(self, account_id: str, customer_id: str) -> str:
        account = self._accounts[account_id]
        if account.payment_customer_id is None:
            account = replace(account, payment_customer_id=customer_id)
            self._accounts[account_id] = account
        return account.payment_customer_id or customer_id

    def use_totp_step(self, account_id: str, step: int) -> bool:
        account = self._accounts[account_id]
        if account.totp_last_step is not None and account.totp_last_step >= step:
            return False
        self._accounts[account_id] = replace(account, totp_last_step=step)
        return True

    def spend_recovery_code(self, account_id: str, digest: str) -> bool:
        account = self._accounts[account_id]
        if digest not in account.recovery_codes:
            return False
        self._accounts[account_id] = replace(account, recovery_codes=tuple(
            code for code in account.recovery_codes if code != digest))
        return True

"""Accounts, roles and what each role may do, plus registration and sign-in."""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from minimart.domain.actors import Role
from minimart.domain.errors import (
    DomainError,
    InvalidCredentials,
    Unauthenticated,
    ValidationFailed,
)

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # hashing a megabyte "password" is a cheap denial of service
MAX_NAME_LENGTH = 120
# E.164: "+", a country code that does not start with 0, at most 15 digits in all
PHONE_PATTERN = r"\A\+[1-9][0-9]{7,14}\Z"


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
    token_generation: int = 0  # bumped to revoke every token issued before
    totp_secret: str | None = None
    totp_enabled: bool = False
    recovery_codes: tuple[str, ...] = field(default_factory=tuple)  # sha256 hex, unused ones
    totp_last_step: int | None = None  # the newest TOTP step accepted: each code works once
    phone: str | None = None  # E.164 (check_phone)

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.STAFF, Role.ADMIN)


class RateLimited(DomainError):
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after


class OtpRequired(Unauthenticated):
    code = "otp_required"


class OtpUsed(InvalidCredentials):
    """A right password with a code already accepted once: said plainly (the password was
    right, so nothing about it leaks), and still counted as a failure."""

    code = "otp_used"


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    """Failed sign-ins are counted per account AND client address: past
    `max_failures_per_account` from one address, each further attempt from it waits, twice
    as long each time (`first_delay` up to `longest_delay`); a pair quiet for `forget_after`
    starts afresh. No count spans addresses, so a stranger cannot lock the owner out (owner
    emails are public). Each address also gets `max_failures_per_address` per `window`
    (higher: shops sit behind shared NATs). And whether staff must use a second factor."""

    max_failures_per_account: int = 5
    max_failures_per_address: int = 50
    window: timedelta = timedelta(minutes=15)
    first_delay: timedelta = timedelta(minutes=1)
    longest_delay: timedelta = timedelta(hours=1)
    forget_after: timedelta = timedelta(days=1)
    require_totp_for_staff: bool = False

    def wait(self, failures: int) -> timedelta:
        """How long after the last of `failures` counted attempts the next may come."""
        over = failures - self.max_failures_per_account
        if over < 0:
            return timedelta(0)
        return min(self.first_delay * 2 ** min(over, 32), self.longest_delay)


@dataclass(frozen=True, slots=True)
class RegistrationPolicy:
    """How many accounts one client address may create in a window: each costs a slow
    password hash, and an unbounded stream of sign-ups starved every other request."""

    max_per_address: int = 10
    window: timedelta = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    otpauth_uri: str
    recovery_codes: list[str]


RECOVERY_CODES = 10
ISSUER = "minimart"


def normalize_email(email: str) -> str:
    """One spelling per address, for uniqueness and sign-in: NFKC folds full-width and
    other compatibility forms (full-width letters are plain ones), case-folding the case."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", email).casefold()).strip()


def _script(char: str) -> str | None:
    """The script a letter is written in (the first word of its Unicode name: LATIN,
    CYRILLIC, GREEK...); None for digits, punctuation and marks."""
    if not char.isalpha():
        return None
    return unicodedata.name(char, "UNKNOWN").split(" ", 1)[0]


def check_email_spelling(email: str) -> None:
    """A local part or domain label mixing scripts (a Cyrillic a among Latin letters) is
    a look-alike of another address, refused at sign-up as browsers refuse such domains."""
    for part in email.replace("@", ".").split("."):
        if len({s for s in map(_script, part) if s is not None}) > 1:
            raise ValidationFailed(
                "email mixes alphabets",
                details={"email": ["mixes letters of different alphabets (look-alikes)"]})


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            "password too short",
            details={"password": [f"must be at least {MIN_PASSWORD_LENGTH} characters"]})
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationFailed(
            "password too long",
            details={"password": [f"must be at most {MAX_PASSWORD_LENGTH} characters"]})


def check_name(name: str) -> str:
    """A display name as at sign-up, surrounding spaces dropped: 1 to MAX_NAME_LENGTH
    characters, not blank."""
    name = name.strip()
    if not name:
        raise ValidationFailed("name is blank", details={"name": ["must not be blank"]})
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationFailed(
            "name too long",
            details={"name": [f"must be at most {MAX_NAME_LENGTH} characters"]})
    return name


def check_phone(phone: str | None) -> None:
    """None (no phone), or E.164: "+" then 8 to 15 ASCII digits, the first not 0."""
    if phone is not None and re.fullmatch(PHONE_PATTERN, phone) is None:
        raise ValidationFailed(
            "phone is not in E.164 form",
            details={"phone": ["must be + and 8 to 15 digits, e.g. +6591234567"]})


def masked_phone(phone: str | None) -> str | None:
    """What an audit event keeps of a phone number: whether there was one, never its
    digits (personal data, which erasure could not reach in the kept events)."""
    return None if phone is None else "*"


def _minutes(left: timedelta) -> str:
    minutes = max(1, math.ceil(left.total_seconds() / 60))
    return "a minute" if minutes == 1 else f"{minutes} minutes"


def _account_key(email: str, client: str | None) -> str:
    """The sign-in counter of an account from one client address (or from nowhere known)."""
    return f"account:{email} from:{client}" if client else f"account:{email}"


def _digest(code: str) -> str:
    """Recovery codes are long random strings, so a fast digest stores them safely."""
    return hashlib.sha256(code.strip().lower().replace("-", "").encode()).hexdigest()

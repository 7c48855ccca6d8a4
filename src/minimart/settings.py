"""ini settings + environment secrets -> one typed, validated Settings, read once at start-up.

Secrets never live in an ini file: they come from the environment. In production a missing
or known-development secret stops the process with a message naming it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from minimart.domain.money import validate_currency

log = logging.getLogger(__name__)

ENVIRONMENTS = ("development", "production", "test")
MIN_SECRET_LENGTH = 32
KNOWN_WEAK_SECRETS = frozenset({
    "secret", "changeme", "change-me", "development", "dev", "test", "password",
    "minimart", "not-a-secret", "insecure",
})


class SettingsError(ValueError):
    """The configuration cannot run; the message says which setting and why."""


@dataclass(frozen=True, slots=True)
class Settings:
    environment: str
    database_url: str
    jwt_secret: str
    jwt_expiration_seconds: int
    currency: str
    order_ttl_minutes: int
    tax_rate_bps: int
    delivery_fee: int
    max_body_bytes: int
    argon2_time_cost: int
    argon2_memory_cost: int
    argon2_parallelism: int

    @property
    def is_production(self) -> bool:
        return self.environment == "production"


def _int(raw: Mapping[str, Any], key: str, default: int, minimum: int = 0) -> int:
    value = raw.get(key, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{key} must be a whole number, not {value!r}") from None
    if number < minimum:
        raise SettingsError(f"{key} must be at least {minimum}")
    return number


def _secret(name: str, value: str | None, production: bool) -> str:
    if production:
        if not value:
            raise SettingsError(f"{name} is not set: production needs it in the environment")
        if value.lower() in KNOWN_WEAK_SECRETS or len(value) < MIN_SECRET_LENGTH:
            raise SettingsError(
                f"{name} is a development or too-short value: production needs a random secret "
                f"of at least {MIN_SECRET_LENGTH} characters")
        return value
    if not value:
        log.warning("%s is not set: using a random one for this process "
                    "(tokens will not survive a restart)", name)
        return secrets.token_urlsafe(48)
    return value


def load_settings(raw: Mapping[str, Any], environ: Mapping[str, str]) -> Settings:
    """Read the ini's `minimart.*` keys and overlay secrets from the environment."""
    environment = str(raw.get("minimart.environment", "development"))
    if environment not in ENVIRONMENTS:
        raise SettingsError(f"minimart.environment must be one of {ENVIRONMENTS}")
    production = environment == "production"

    database_url = environ.get("DATABASE_URL") or raw.get("minimart.database_url")
    if not database_url:
        raise SettingsError("DATABASE_URL is not set (nor minimart.database_url in the ini)")
    if production and str(database_url).startswith("sqlite"):
        raise SettingsError("DATABASE_URL points at SQLite: production runs on PostgreSQL")

    # Tests hand secrets in as settings; production takes them from the environment only.
    jwt_secret = _secret("MINIMART_JWT_SECRET",
                         environ.get("MINIMART_JWT_SECRET")
                         or (None if production else raw.get("minimart.jwt_secret")),
                         production)
    try:
        currency = validate_currency(str(raw.get("minimart.currency", "usd")))
    except ValueError as error:
        raise SettingsError(f"minimart.currency: {error}") from None

    return Settings(
        environment=environment,
        database_url=str(database_url),
        jwt_secret=jwt_secret,
        jwt_expiration_seconds=_int(raw, "minimart.jwt_expiration_seconds", 3600, 60),
        currency=currency,
        order_ttl_minutes=_int(raw, "minimart.order_ttl_minutes", 30, 1),
        tax_rate_bps=_int(raw, "minimart.tax_rate_bps", 0, 0),
        delivery_fee=_int(raw, "minimart.delivery_fee", 0, 0),
        max_body_bytes=_int(raw, "minimart.max_body_bytes", 1_048_576, 1024),
        argon2_time_cost=_int(raw, "minimart.argon2.time_cost", 3, 1),
        argon2_memory_cost=_int(raw, "minimart.argon2.memory_cost", 65536, 8),
        argon2_parallelism=_int(raw, "minimart.argon2.parallelism", 4, 1),
    )

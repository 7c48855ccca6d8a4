"""ini settings + environment secrets -> one typed, validated Settings, read once at start-up.

Secrets never live in an ini file: they come from the environment. In production a missing
or known-development secret stops the process with a message naming it.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from minimart.domain.money import validate_currency
from minimart.domain.orders import MAX_QUANTITY, OrderLimits

log = logging.getLogger(__name__)

ENVIRONMENTS = ("development", "production", "test")
PAYMENT_PROVIDERS = ("memory", "stripe")
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
    replica_url: str | None
    database_pool_size: int
    database_max_overflow: int
    database_pool_timeout_seconds: float
    database_connect_timeout_seconds: int
    database_statement_timeout_seconds: float
    database_lock_timeout_seconds: float
    database_answer_timeout_seconds: float
    database_keepalives_idle_seconds: int
    database_tcp_user_timeout_seconds: float
    database_prepared_statements: bool
    readiness_timeout_seconds: int
    jwt_secret: str
    jwt_expiration_seconds: int
    currency: str
    store_name: str
    order_limits: OrderLimits
    tax_rate_bps: int
    delivery_fee: int
    max_body_bytes: int
    argon2_time_cost: int
    argon2_memory_cost: int
    argon2_parallelism: int
    argon2_max_concurrent: int
    argon2_max_wait_seconds: float
    payments: str
    stripe_api_key: str | None
    stripe_webhook_secret: str
    stripe_api_base: str | None
    stripe_timeout_seconds: int
    stripe_max_network_retries: int
    reconcile_after_minutes: int
    images_directory: str
    metrics_token: str | None
    login_max_failures_per_account: int
    login_max_failures_per_address: int
    login_window_minutes: int
    registration_max_per_address: int
    registration_window_minutes: int
    require_totp_for_staff: bool
    image_max_bytes: int

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


def _seconds(raw: Mapping[str, Any], key: str, default: float, maximum: float) -> float:
    value = raw.get(key, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{key} must be a number of seconds, not {value!r}") from None
    if not 0 < number <= maximum:  # NaN fails this too
        raise SettingsError(f"{key} must be above 0 and at most {maximum:g}")
    return number


def _flag(raw: Mapping[str, Any], key: str, default: bool = False,
          name: str | None = None) -> bool:
    value = str(raw.get(key, default)).strip().lower()
    if value not in ("true", "false", "yes", "no", "1", "0", "on", "off"):
        raise SettingsError(f"{name or key} must be true or false, not {value!r}")
    return value in ("true", "yes", "1", "on")


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
        log.warning("%s is not set: using a random value for this process only", name)
        return secrets.token_urlsafe(48)
    return value


def _kept_development_secret(path: str) -> str:
    """A generated secret kept in a file (var/, mode 0600), so restarting a development
    server signs nobody out. Never consulted in production."""
    while True:
        try:
            with open(path) as kept:
                value = kept.read().strip()
            if len(value) < MIN_SECRET_LENGTH:
                raise SettingsError(f"{path} holds no usable secret: delete it to make one")
            return value
        except FileNotFoundError:
            pass
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        try:  # O_EXCL: of two processes starting at once, one writes, the other reads it
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        value = secrets.token_urlsafe(48)
        with os.fdopen(descriptor, "w") as kept:
            kept.write(value + "\n")
        return value


def _database_bounds(raw: Mapping[str, Any]) -> dict[str, Any]:
    """How long anything may wait on the database (README, Operations). The server cancels
    a statement or lock wait first; the client's answer bound, longer, is for a server that
    cannot cancel anything because it does not run."""
    prefix = "minimart.database."
    statement = _seconds(raw, f"{prefix}statement_timeout_seconds", 5, 600)
    lock = _seconds(raw, f"{prefix}lock_timeout_seconds", 3, 600)
    answer = _seconds(raw, f"{prefix}answer_timeout_seconds", 6, 600)
    if lock > statement:
        raise SettingsError(f"{prefix}lock_timeout_seconds must not exceed "
                            f"{prefix}statement_timeout_seconds")
    if answer <= statement:
        raise SettingsError(f"{prefix}answer_timeout_seconds must exceed "
                            f"{prefix}statement_timeout_seconds, so that the server cancels "
                            "a slow statement before the client gives up on the connection")
    return {
        "database_pool_size": _int(raw, f"{prefix}pool_size", 8, 1),
        "database_max_overflow": _int(raw, f"{prefix}max_overflow", 8, 0),
        "database_pool_timeout_seconds": _seconds(raw, f"{prefix}pool_timeout_seconds", 3, 60),
        # libpq waits at least 2 s whatever it is told
        "database_connect_timeout_seconds": _int(raw, f"{prefix}connect_timeout_seconds", 3,
                                                 2),
        "database_statement_timeout_seconds": statement,
        "database_lock_timeout_seconds": lock,
        "database_answer_timeout_seconds": answer,
        "database_keepalives_idle_seconds": _int(raw, f"{prefix}keepalives_idle_seconds", 5,
                                                 1),
        "database_tcp_user_timeout_seconds": _seconds(
            raw, f"{prefix}tcp_user_timeout_seconds", 6, 600),
        "readiness_timeout_seconds": _int(raw, "minimart.readiness_timeout_seconds", 2, 2),
    }


PREPARED_STATEMENTS_ENV = "MINIMART_DATABASE_PREPARED_STATEMENTS"


def _prepared_statements(raw: Mapping[str, Any], environ: Mapping[str, str]) -> bool:
    """Whether psycopg may prepare a statement it runs often (after 5 runs, on the server).
    Off behind a pool in transaction mode (PgBouncer before 1.21): a prepared statement lives
    on one server connection, the next transaction may get another. The environment
    (`MINIMART_DATABASE_PREPARED_STATEMENTS`) overrides the ini: it goes with DATABASE_URL."""
    key = "minimart.database.prepared_statements"
    if environ.get(PREPARED_STATEMENTS_ENV):
        return _flag(environ, PREPARED_STATEMENTS_ENV, name=PREPARED_STATEMENTS_ENV)
    return _flag(raw, key, default=True)


def _order_limits(raw: Mapping[str, Any]) -> OrderLimits:
    return OrderLimits(
        ttl=timedelta(minutes=_int(raw, "minimart.order_ttl_minutes", 30, 1)),
        unstarted_ttl=timedelta(minutes=_int(raw, "minimart.unstarted_order_ttl_minutes", 10,
                                             1)),
        max_pending_orders=_int(raw, "minimart.max_pending_orders_per_account", 5, 1),
        max_pending_units_per_item=_int(raw, "minimart.max_pending_units_per_item",
                                        MAX_QUANTITY, 1))


def _environment(raw: Mapping[str, Any]) -> str:
    environment = str(raw.get("minimart.environment", "development"))
    if environment not in ENVIRONMENTS:
        raise SettingsError(f"minimart.environment must be one of {ENVIRONMENTS}")
    return environment


def database_url_from(raw: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    """The database: DATABASE_URL from the environment, else the ini's minimart.database_url.
    All that `minimart db` and the migrations' env.py read of the settings: migrating the
    schema needs no payment or token secret."""
    database_url = environ.get("DATABASE_URL") or raw.get("minimart.database_url")
    if not database_url:
        raise SettingsError("DATABASE_URL is not set (nor minimart.database_url in the ini)")
    if _environment(raw) == "production" and str(database_url).startswith("sqlite"):
        raise SettingsError("DATABASE_URL points at SQLite: production runs on PostgreSQL")
    return str(database_url)


def load_settings(raw: Mapping[str, Any], environ: Mapping[str, str]) -> Settings:
    """Read the ini's `minimart.*` keys and overlay secrets from the environment."""
    environment = _environment(raw)
    production = environment == "production"
    database_url = database_url_from(raw, environ)

    def secret(name: str, key: str) -> str | None:
        """Tests hand secrets in as settings; production takes them from the environment."""
        return environ.get(name) or (None if production else raw.get(key))

    jwt_value = secret("MINIMART_JWT_SECRET", "minimart.jwt_secret")
    kept_file = raw.get("minimart.development_secret_file")
    if environment == "development" and not jwt_value and kept_file:
        jwt_value = _kept_development_secret(str(kept_file))
    jwt_secret = _secret("MINIMART_JWT_SECRET", jwt_value, production)
    try:
        currency = validate_currency(str(raw.get("minimart.currency", "usd")))
    except ValueError as error:
        raise SettingsError(f"minimart.currency: {error}") from None

    payments = str(raw.get("minimart.payments", "memory"))
    if payments not in PAYMENT_PROVIDERS:
        raise SettingsError(f"minimart.payments must be one of {PAYMENT_PROVIDERS}")
    if production and payments != "stripe":
        raise SettingsError("minimart.payments = memory simulates payments: production "
                            "needs minimart.payments = stripe")

    stripe_api_key = secret("STRIPE_API_KEY", "minimart.stripe.api_key")
    if payments == "stripe" and not stripe_api_key:
        raise SettingsError("STRIPE_API_KEY is not set: minimart.payments = stripe needs it")
    if production and not str(stripe_api_key).startswith(("sk_", "rk_")):
        raise SettingsError("STRIPE_API_KEY is not a Stripe secret or restricted key")
    webhook_secret = _secret("STRIPE_WEBHOOK_SECRET",
                             secret("STRIPE_WEBHOOK_SECRET", "minimart.stripe.webhook_secret"),
                             production)

    return Settings(
        environment=environment,
        database_url=str(database_url),
        replica_url=environ.get("DATABASE_REPLICA_URL")
        or raw.get("minimart.database.replica_url") or None,
        **_database_bounds(raw),
        database_prepared_statements=_prepared_statements(raw, environ),
        jwt_secret=jwt_secret,
        jwt_expiration_seconds=_int(raw, "minimart.jwt_expiration_seconds", 3600, 60),
        currency=currency,
        store_name=str(raw.get("minimart.store_name", "minimart")),
        order_limits=_order_limits(raw),
        tax_rate_bps=_int(raw, "minimart.tax_rate_bps", 0, 0),
        delivery_fee=_int(raw, "minimart.delivery_fee", 0, 0),
        max_body_bytes=_int(raw, "minimart.max_body_bytes", 1_048_576, 1024),
        argon2_time_cost=_int(raw, "minimart.argon2.time_cost", 3, 1),
        argon2_memory_cost=_int(raw, "minimart.argon2.memory_cost", 65536, 8),
        argon2_parallelism=_int(raw, "minimart.argon2.parallelism", 4, 1),
        argon2_max_concurrent=_int(raw, "minimart.argon2.max_concurrent", 2, 1),
        argon2_max_wait_seconds=_seconds(raw, "minimart.argon2.max_wait_seconds", 5, 60),
        payments=payments,
        stripe_api_key=stripe_api_key,
        stripe_webhook_secret=webhook_secret,
        stripe_api_base=environ.get("STRIPE_API_BASE") or raw.get("minimart.stripe.api_base"),
        stripe_timeout_seconds=_int(raw, "minimart.stripe.timeout_seconds", 10, 1),
        stripe_max_network_retries=_int(raw, "minimart.stripe.max_network_retries", 2, 0),
        reconcile_after_minutes=_int(raw, "minimart.reconcile_after_minutes", 5, 1),
        login_max_failures_per_account=_int(raw, "minimart.login.max_failures_per_account", 5, 1),
        login_max_failures_per_address=_int(raw, "minimart.login.max_failures_per_address", 50,
                                            1),
        login_window_minutes=_int(raw, "minimart.login.window_minutes", 15, 1),
        registration_max_per_address=_int(raw, "minimart.registration.max_per_address", 10,
                                          1),
        registration_window_minutes=_int(raw, "minimart.registration.window_minutes", 60, 1),
        require_totp_for_staff=_flag(raw, "minimart.login.require_totp_for_staff"),
        metrics_token=secret("MINIMART_METRICS_TOKEN", "minimart.metrics_token"),
        images_directory=str(raw.get("minimart.images.directory", "var/images")),
        image_max_bytes=_int(raw, "minimart.images.max_bytes", 16 * 1024 * 1024, 1024),
    )

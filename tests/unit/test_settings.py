"""load_settings: ini + environment -> Settings, and production's refusal of unsafe secrets."""

from __future__ import annotations

import configparser
import logging
from datetime import timedelta
from pathlib import Path

import pytest

from minimart.adapters.sqlalchemy.database import normalize_database_url
from minimart.domain.orders import OrderLimits
from minimart.settings import MIN_SECRET_LENGTH, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]
PG_URL = "postgresql://shop@db.internal/shop"
STRONG_SECRET = "k3Q9-" + "r" * 40
STRIPE_KEY = "sk_live_" + "a" * 24
WEBHOOK_SECRET = "whsec_" + "w" * 32


def production(**ini):
    return {"minimart.environment": "production", "minimart.payments": "stripe", **ini}


def production_env(**extra):
    return {"DATABASE_URL": PG_URL, "MINIMART_JWT_SECRET": STRONG_SECRET,
            "STRIPE_API_KEY": STRIPE_KEY, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET, **extra}


def test_production_with_its_secrets_in_the_environment_loads():
    settings = load_settings(production(), production_env())

    assert settings.is_production
    assert settings.jwt_secret == STRONG_SECRET
    assert settings.database_url == PG_URL


def test_production_refuses_to_start_without_a_jwt_secret_and_names_it():
    environ = production_env()
    del environ["MINIMART_JWT_SECRET"]

    with pytest.raises(SettingsError, match="MINIMART_JWT_SECRET"):
        load_settings(production(), environ)


def test_production_treats_an_empty_jwt_secret_as_missing():
    with pytest.raises(SettingsError, match="MINIMART_JWT_SECRET"):
        load_settings(production(), production_env(MINIMART_JWT_SECRET=""))


@pytest.mark.parametrize("weak", [
    "secret", "CHANGEME", "development", "x" * (MIN_SECRET_LENGTH - 1)])
def test_production_refuses_a_weak_jwt_secret_and_names_it(weak):
    with pytest.raises(SettingsError, match="MINIMART_JWT_SECRET"):
        load_settings(production(), production_env(MINIMART_JWT_SECRET=weak))


def test_production_accepts_a_jwt_secret_of_exactly_the_minimum_length():
    secret = "s" * MIN_SECRET_LENGTH

    assert load_settings(production(), production_env(MINIMART_JWT_SECRET=secret)).jwt_secret \
        == secret


def test_production_ignores_a_jwt_secret_written_in_the_ini():
    environ = production_env()
    del environ["MINIMART_JWT_SECRET"]

    with pytest.raises(SettingsError, match="MINIMART_JWT_SECRET"):
        load_settings(production(**{"minimart.jwt_secret": STRONG_SECRET}), environ)


def test_production_prefers_the_environment_jwt_secret_over_the_ini():
    settings = load_settings(production(**{"minimart.jwt_secret": "ini-" + "i" * 40}),
                             production_env())

    assert settings.jwt_secret == STRONG_SECRET


def test_production_refuses_to_start_without_a_database_url_and_names_it():
    environ = production_env()
    del environ["DATABASE_URL"]

    with pytest.raises(SettingsError, match="DATABASE_URL"):
        load_settings(production(), environ)


def test_production_refuses_sqlite():
    with pytest.raises(SettingsError, match="SQLite"):
        load_settings(production(), production_env(DATABASE_URL="sqlite:///shop.sqlite"))


def test_database_url_from_the_environment_overrides_the_ini():
    settings = load_settings({"minimart.database_url": "sqlite:///from-ini.sqlite"},
                             {"DATABASE_URL": PG_URL})

    assert settings.database_url == PG_URL


def test_the_ini_database_url_is_used_when_the_environment_has_none():
    settings = load_settings({"minimart.database_url": "sqlite:///from-ini.sqlite"}, {})

    assert settings.database_url == "sqlite:///from-ini.sqlite"


def test_development_without_any_database_url_is_refused_too():
    with pytest.raises(SettingsError, match="DATABASE_URL"):
        load_settings({}, {})


@pytest.mark.parametrize("currency", ["USD", "dollars", "us", "", "€ur"])
def test_a_bad_currency_is_refused_naming_the_setting(currency):
    with pytest.raises(SettingsError, match=r"minimart\.currency"):
        load_settings({"minimart.database_url": "sqlite://", "minimart.currency": currency}, {})


def test_the_currency_defaults_to_usd_and_takes_the_ini_value():
    assert load_settings({"minimart.database_url": "sqlite://"}, {}).currency == "usd"
    assert load_settings({"minimart.database_url": "sqlite://", "minimart.currency": "eur"},
                         {}).currency == "eur"


def test_development_without_a_jwt_secret_makes_a_random_one_and_warns(caplog):
    ini = {"minimart.database_url": "sqlite://"}

    with caplog.at_level(logging.WARNING, logger="minimart.settings"):
        first = load_settings(ini, {})
        second = load_settings(ini, {})

    assert first.environment == "development"
    assert len(first.jwt_secret) >= MIN_SECRET_LENGTH
    assert first.jwt_secret != second.jwt_secret
    assert "MINIMART_JWT_SECRET" in caplog.text


def test_development_keeps_its_generated_jwt_secret_across_restarts(tmp_path):
    kept = tmp_path / "var" / "development-secret"
    ini = {"minimart.database_url": "sqlite://", "minimart.development_secret_file": str(kept)}

    first = load_settings(ini, {})
    second = load_settings(ini, {})

    assert first.jwt_secret == second.jwt_secret
    assert len(first.jwt_secret) >= MIN_SECRET_LENGTH
    assert kept.read_text().strip() == first.jwt_secret
    assert kept.stat().st_mode & 0o777 == 0o600


def test_the_kept_development_secret_yields_to_a_configured_one(tmp_path):
    kept = tmp_path / "development-secret"
    ini = {"minimart.database_url": "sqlite://", "minimart.development_secret_file": str(kept)}

    assert load_settings(ini, {"MINIMART_JWT_SECRET": STRONG_SECRET}).jwt_secret == STRONG_SECRET
    assert not kept.exists()


def test_production_never_reads_the_kept_development_secret(tmp_path):
    kept = tmp_path / "development-secret"
    kept.write_text(STRONG_SECRET)
    environ = production_env()
    del environ["MINIMART_JWT_SECRET"]

    with pytest.raises(SettingsError, match="MINIMART_JWT_SECRET"):
        load_settings(production(**{"minimart.development_secret_file": str(kept)}), environ)


def test_development_takes_the_jwt_secret_from_the_ini():
    settings = load_settings({"minimart.database_url": "sqlite://",
                              "minimart.jwt_secret": "dev"}, {})

    assert settings.jwt_secret == "dev"


def test_an_unknown_environment_is_refused():
    with pytest.raises(SettingsError, match=r"minimart\.environment"):
        load_settings({"minimart.environment": "staging", "minimart.database_url": "sqlite://"},
                      {})


@pytest.mark.parametrize(("key", "value"), [
    ("minimart.jwt_expiration_seconds", "soon"),
    ("minimart.jwt_expiration_seconds", "10"),
    ("minimart.order_ttl_minutes", "0"),
    ("minimart.unstarted_order_ttl_minutes", "0"),
    ("minimart.max_pending_orders_per_account", "0"),
    ("minimart.max_pending_units_per_item", "none"),
    ("minimart.tax_rate_bps", "-1"),
    ("minimart.argon2.time_cost", "1.5"),
])
def test_numbers_that_are_unreadable_or_too_small_are_refused_naming_the_setting(key, value):
    with pytest.raises(SettingsError, match=key.replace(".", r"\.")):
        load_settings({"minimart.database_url": "sqlite://", key: value}, {})


def test_numbers_are_read_from_their_ini_strings():
    settings = load_settings({"minimart.database_url": "sqlite://",
                              "minimart.tax_rate_bps": "825", "minimart.delivery_fee": "299",
                              "minimart.order_ttl_minutes": "15"}, {})

    assert (settings.tax_rate_bps, settings.delivery_fee, settings.order_limits.ttl) == (
        825, 299, timedelta(minutes=15))


def test_what_one_account_may_hold_unpaid_has_defaults_and_is_read_from_the_ini():
    assert load_settings({"minimart.database_url": "sqlite://"}, {}).order_limits == OrderLimits(
        ttl=timedelta(minutes=30), unstarted_ttl=timedelta(minutes=10), max_pending_orders=5,
        max_pending_units_per_item=1000)
    limits = load_settings({"minimart.database_url": "sqlite://",
                            "minimart.unstarted_order_ttl_minutes": "3",
                            "minimart.max_pending_orders_per_account": "2",
                            "minimart.max_pending_units_per_item": "40"}, {}).order_limits
    assert (limits.unstarted_ttl, limits.max_pending_orders,
            limits.max_pending_units_per_item) == (timedelta(minutes=3), 2, 40)


def test_settings_error_is_a_value_error():
    assert issubclass(SettingsError, ValueError)


# --- DATABASE_URL as hosting platforms write it -----------------------------------
@pytest.mark.parametrize(("given", "expected"), [
    ("postgres://u:p@host:5432/db", "postgresql+psycopg://u:p@host:5432/db"),
    ("postgresql://u:p@host:5432/db", "postgresql+psycopg://u:p@host:5432/db"),
    ("postgresql+psycopg://u@host/db", "postgresql+psycopg://u@host/db"),
    ("sqlite:///var/shop.sqlite", "sqlite:///var/shop.sqlite"),
])
def test_normalize_database_url_uses_psycopg_for_every_postgres_form(given, expected):
    assert normalize_database_url(given) == expected


def test_normalize_database_url_only_rewrites_the_scheme():
    url = "postgres://u:postgres%3A%2F%2F@host/postgres"

    assert normalize_database_url(url) == "postgresql+psycopg://u:postgres%3A%2F%2F@host/postgres"


# --- payments ---------------------------------------------------------------------

def test_production_takes_the_stripe_secrets_from_the_environment():
    settings = load_settings(production(), production_env())

    assert settings.payments == "stripe"
    assert settings.stripe_api_key == STRIPE_KEY
    assert settings.stripe_webhook_secret == WEBHOOK_SECRET


@pytest.mark.parametrize("ini", [{}, {"minimart.payments": "memory"}],
                         ids=["default", "memory"])
def test_production_refuses_simulated_payments_naming_the_setting(ini):
    raw = {"minimart.environment": "production", **ini}

    with pytest.raises(SettingsError, match=r"minimart\.payments"):
        load_settings(raw, production_env())


def test_an_unknown_payment_provider_is_refused_naming_the_setting():
    with pytest.raises(SettingsError, match=r"minimart\.payments"):
        load_settings({"minimart.database_url": "sqlite://", "minimart.payments": "paypal"}, {})


@pytest.mark.parametrize("value", [None, ""], ids=["missing", "empty"])
def test_production_refuses_to_start_without_a_webhook_secret_and_names_it(value):
    environ = production_env(STRIPE_WEBHOOK_SECRET=value)
    if value is None:
        del environ["STRIPE_WEBHOOK_SECRET"]

    with pytest.raises(SettingsError, match="STRIPE_WEBHOOK_SECRET"):
        load_settings(production(), environ)


@pytest.mark.parametrize("weak", ["secret", "whsec_short", "w" * (MIN_SECRET_LENGTH - 1)])
def test_production_refuses_a_weak_webhook_secret_and_names_it(weak):
    with pytest.raises(SettingsError, match="STRIPE_WEBHOOK_SECRET"):
        load_settings(production(), production_env(STRIPE_WEBHOOK_SECRET=weak))


def test_production_accepts_a_webhook_secret_of_exactly_the_minimum_length():
    secret = "w" * MIN_SECRET_LENGTH

    settings = load_settings(production(), production_env(STRIPE_WEBHOOK_SECRET=secret))

    assert settings.stripe_webhook_secret == secret


def test_production_ignores_stripe_secrets_written_in_the_ini():
    ini = production(**{"minimart.stripe.api_key": STRIPE_KEY,
                        "minimart.stripe.webhook_secret": WEBHOOK_SECRET})
    environ = production_env()
    del environ["STRIPE_API_KEY"]

    with pytest.raises(SettingsError, match="STRIPE_API_KEY"):
        load_settings(ini, environ)

    environ = production_env()
    del environ["STRIPE_WEBHOOK_SECRET"]
    with pytest.raises(SettingsError, match="STRIPE_WEBHOOK_SECRET"):
        load_settings(ini, environ)


@pytest.mark.parametrize("value", [None, ""], ids=["missing", "empty"])
def test_production_refuses_to_start_without_a_stripe_api_key_and_names_it(value):
    environ = production_env(STRIPE_API_KEY=value)
    if value is None:
        del environ["STRIPE_API_KEY"]

    with pytest.raises(SettingsError, match="STRIPE_API_KEY"):
        load_settings(production(), environ)


@pytest.mark.parametrize("odd", ["pk_live_" + "a" * 24, "whsec_" + "a" * 32, "sk-live-abc",
                                 "SK_live_abc", "live_key"])
def test_production_refuses_a_stripe_api_key_that_is_not_a_secret_key_and_names_it(odd):
    with pytest.raises(SettingsError, match="STRIPE_API_KEY"):
        load_settings(production(), production_env(STRIPE_API_KEY=odd))


@pytest.mark.parametrize("key", ["sk_test_abc", "sk_live_abc", "rk_live_abc"])
def test_production_accepts_secret_and_restricted_stripe_keys(key):
    assert load_settings(production(), production_env(STRIPE_API_KEY=key)).stripe_api_key \
        == key


def test_stripe_payments_outside_production_still_need_an_api_key():
    with pytest.raises(SettingsError, match="STRIPE_API_KEY"):
        load_settings({"minimart.database_url": "sqlite://", "minimart.payments": "stripe"}, {})


def test_development_takes_the_stripe_settings_from_the_ini():
    settings = load_settings({"minimart.database_url": "sqlite://",
                              "minimart.payments": "stripe",
                              "minimart.stripe.api_key": "sk_test_ini",
                              "minimart.stripe.webhook_secret": "whsec_dev",
                              "minimart.stripe.api_base": "http://localhost:8420"}, {})

    assert (settings.payments, settings.stripe_api_key, settings.stripe_webhook_secret,
            settings.stripe_api_base) == (
        "stripe", "sk_test_ini", "whsec_dev", "http://localhost:8420")


def test_development_defaults_to_memory_payments_with_a_random_webhook_secret(caplog):
    ini = {"minimart.database_url": "sqlite://"}

    with caplog.at_level(logging.WARNING, logger="minimart.settings"):
        first = load_settings(ini, {})
        second = load_settings(ini, {})

    assert first.payments == "memory"
    assert first.stripe_api_key is None
    assert len(first.stripe_webhook_secret) >= MIN_SECRET_LENGTH
    assert first.stripe_webhook_secret != second.stripe_webhook_secret
    assert "STRIPE_WEBHOOK_SECRET" in caplog.text


def test_stripe_api_base_from_the_environment_is_honoured_and_overrides_the_ini():
    base = "http://localstripe.internal:8420"

    from_env = load_settings(production(**{"minimart.stripe.api_base": "http://ini:1"}),
                             production_env(STRIPE_API_BASE=base))
    from_ini = load_settings(production(**{"minimart.stripe.api_base": base}),
                             production_env())
    unset = load_settings(production(), production_env())

    assert from_env.stripe_api_base == base
    assert from_ini.stripe_api_base == base
    assert unset.stripe_api_base is None


def test_stripe_and_reconciliation_numbers_are_read_and_checked():
    settings = load_settings({"minimart.database_url": "sqlite://",
                              "minimart.stripe.timeout_seconds": "7",
                              "minimart.stripe.max_network_retries": "0",
                              "minimart.reconcile_after_minutes": "15"}, {})

    assert (settings.stripe_timeout_seconds, settings.stripe_max_network_retries,
            settings.reconcile_after_minutes) == (7, 0, 15)
    with pytest.raises(SettingsError, match=r"minimart\.reconcile_after_minutes"):
        load_settings({"minimart.database_url": "sqlite://",
                       "minimart.reconcile_after_minutes": "0"}, {})


def test_abuse_limits_default_to_ten_sign_ups_an_hour_and_two_hashes_at_once():
    settings = load_settings({"minimart.database_url": "sqlite://"}, {})

    assert (settings.registration_max_per_address, settings.registration_window_minutes,
            settings.argon2_max_concurrent, settings.argon2_max_wait_seconds) == (10, 60, 2, 5.0)


def test_abuse_limits_are_read_from_their_ini_strings():
    settings = load_settings({"minimart.database_url": "sqlite://",
                              "minimart.registration.max_per_address": "3",
                              "minimart.registration.window_minutes": "30",
                              "minimart.argon2.max_concurrent": "4",
                              "minimart.argon2.max_wait_seconds": "0.5"}, {})

    assert (settings.registration_max_per_address, settings.registration_window_minutes,
            settings.argon2_max_concurrent, settings.argon2_max_wait_seconds) == (3, 30, 4, 0.5)


@pytest.mark.parametrize(("key", "value"), [
    ("minimart.registration.max_per_address", "0"),
    ("minimart.registration.max_per_address", "ten"),
    ("minimart.registration.window_minutes", "0"),
    ("minimart.argon2.max_concurrent", "0"),
    ("minimart.argon2.max_concurrent", "2.5"),
    ("minimart.argon2.max_wait_seconds", "0"),
    ("minimart.argon2.max_wait_seconds", "-1"),
    ("minimart.argon2.max_wait_seconds", "nan"),
    ("minimart.argon2.max_wait_seconds", "61"),
    ("minimart.argon2.max_wait_seconds", "soon"),
])
def test_abuse_limits_that_are_unreadable_or_out_of_range_are_refused_naming_them(key, value):
    with pytest.raises(SettingsError, match=key.replace(".", r"\.")):
        load_settings({"minimart.database_url": "sqlite://", key: value}, {})


def test_the_shipped_ini_files_set_the_abuse_limits_to_their_documented_defaults():
    for name in ("development.ini", "production.ini"):
        ini = configparser.ConfigParser(interpolation=None)
        ini.read(ROOT / name)
        app = dict(ini["app:main"])
        settings = load_settings({**app, "minimart.environment": "test",
                                  "minimart.payments": "memory",
                                  "minimart.database_url": "sqlite://"}, {})

        assert (settings.registration_max_per_address, settings.argon2_max_concurrent,
                settings.argon2_max_wait_seconds) == (10, 2, 5.0), name
        assert "minimart.registration.max_per_address" in app, name


# --- bounds on every wait on the database ------------------------------------------------

DB = "minimart.database."


def _bounds(settings):
    return (settings.database_pool_size, settings.database_max_overflow,
            settings.database_pool_timeout_seconds, settings.database_connect_timeout_seconds,
            settings.database_statement_timeout_seconds,
            settings.database_lock_timeout_seconds, settings.database_answer_timeout_seconds,
            settings.database_keepalives_idle_seconds,
            settings.database_tcp_user_timeout_seconds, settings.readiness_timeout_seconds)


def test_database_bounds_default_to_a_few_seconds_each():
    assert _bounds(load_settings({"minimart.database_url": "sqlite://"}, {})) == (
        8, 8, 3.0, 3, 5.0, 3.0, 6.0, 5, 6.0, 2)


def test_database_bounds_are_read_from_their_ini_strings():
    settings = load_settings({
        "minimart.database_url": "sqlite://", f"{DB}pool_size": "4", f"{DB}max_overflow": "0",
        f"{DB}pool_timeout_seconds": "1.5", f"{DB}connect_timeout_seconds": "2",
        f"{DB}statement_timeout_seconds": "10", f"{DB}lock_timeout_seconds": "0.5",
        f"{DB}answer_timeout_seconds": "12", f"{DB}keepalives_idle_seconds": "30",
        f"{DB}tcp_user_timeout_seconds": "20", "minimart.readiness_timeout_seconds": "4"}, {})

    assert _bounds(settings) == (4, 0, 1.5, 2, 10.0, 0.5, 12.0, 30, 20.0, 4)


@pytest.mark.parametrize(("key", "value"), [
    (f"{DB}pool_size", "0"),
    (f"{DB}max_overflow", "-1"),
    (f"{DB}pool_timeout_seconds", "0"),
    (f"{DB}pool_timeout_seconds", "61"),
    (f"{DB}connect_timeout_seconds", "1"),  # libpq would wait 2 s anyway
    (f"{DB}connect_timeout_seconds", "2.5"),
    (f"{DB}statement_timeout_seconds", "soon"),
    (f"{DB}lock_timeout_seconds", "0"),
    (f"{DB}answer_timeout_seconds", "601"),
    (f"{DB}keepalives_idle_seconds", "0"),
    (f"{DB}tcp_user_timeout_seconds", "nan"),
    ("minimart.readiness_timeout_seconds", "1"),
])
def test_database_bounds_that_are_unreadable_or_out_of_range_are_refused_naming_them(key,
                                                                                     value):
    with pytest.raises(SettingsError, match=key.replace(".", r"\.")):
        load_settings({"minimart.database_url": "sqlite://", key: value}, {})


def test_a_lock_timeout_above_the_statement_timeout_is_refused():
    with pytest.raises(SettingsError, match=rf"{DB}lock_timeout_seconds".replace(".", r"\.")):
        load_settings({"minimart.database_url": "sqlite://",
                       f"{DB}statement_timeout_seconds": "2",
                       f"{DB}lock_timeout_seconds": "3"}, {})


@pytest.mark.parametrize("answer", ["4", "5"])
def test_the_client_must_wait_longer_than_the_server_takes_to_cancel(answer):
    with pytest.raises(SettingsError, match=rf"{DB}answer_timeout_seconds".replace(".", r"\.")):
        load_settings({"minimart.database_url": "sqlite://",
                       f"{DB}statement_timeout_seconds": "5",
                       f"{DB}answer_timeout_seconds": answer}, {})


def test_production_ini_bounds_the_database_and_sizes_the_pool_to_two_per_thread():
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(ROOT / "production.ini")
    settings = load_settings({**dict(ini["app:main"]), "minimart.environment": "test",
                              "minimart.payments": "memory",
                              "minimart.database_url": "sqlite://"}, {})
    threads = int(ini["server:main"]["threads"])

    assert settings.database_pool_size + settings.database_max_overflow == 2 * threads
    assert _bounds(settings) == _bounds(load_settings({"minimart.database_url": "sqlite://"},
                                                      {}))


def test_prepared_statements_are_on_unless_the_ini_or_the_environment_turns_them_off():
    def prepared(ini: dict[str, str], environ: dict[str, str]) -> bool:
        return load_settings({"minimart.database_url": "sqlite://", **ini},
                             environ).database_prepared_statements

    off = {f"{DB}prepared_statements": "false"}
    assert prepared({}, {}) is True
    assert prepared(off, {}) is False
    assert prepared({}, {"MINIMART_DATABASE_PREPARED_STATEMENTS": "false"}) is False
    assert prepared(off, {"MINIMART_DATABASE_PREPARED_STATEMENTS": "true"}) is True
    assert prepared(off, {"MINIMART_DATABASE_PREPARED_STATEMENTS": ""}) is False


@pytest.mark.parametrize(("ini", "environ", "named"), [
    ({f"{DB}prepared_statements": "sometimes"}, {}, f"{DB}prepared_statements"),
    ({}, {"MINIMART_DATABASE_PREPARED_STATEMENTS": "nope"},
     "MINIMART_DATABASE_PREPARED_STATEMENTS"),
])
def test_an_unreadable_prepared_statements_flag_is_refused_naming_it(ini, environ, named):
    with pytest.raises(SettingsError, match=named.replace(".", r"\.")):
        load_settings({"minimart.database_url": "sqlite://", **ini}, environ)

"""load_settings: ini + environment -> Settings, and production's refusal of unsafe secrets."""

from __future__ import annotations

import logging

import pytest

from minimart.adapters.sqlalchemy.database import normalize_database_url
from minimart.settings import MIN_SECRET_LENGTH, SettingsError, load_settings

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

    assert (settings.tax_rate_bps, settings.delivery_fee, settings.order_ttl_minutes) == (
        825, 299, 15)


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

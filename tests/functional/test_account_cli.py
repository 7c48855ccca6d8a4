"""`minimart disable-account` and `minimart enrol-totp`: the owner's tools for a lost laptop
and for staff two-factor sign-in, checked against the web app on the same database."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from sqlalchemy import select
from webtest import TestApp

from minimart import make_app
from minimart.adapters.sqlalchemy.tables import (
    accounts,
    audit_events,
    login_failures,
    registration_attempts,
)
from minimart.entrypoints.cli import main
from tests.conftest import FAST_ARGON2, TEST_JWT_SECRET
from tests.functional.cli_inis import migrated_ini

PASSWORD = "owner password 123"
TOKEN = "/api/v1/auth/token"
ME = "/api/v1/accounts/me"
RECOVERY_CODE = re.compile(r"^[0-9a-f]{10}-[0-9a-f]{10}$")


@pytest.fixture
def settings(tmp_path: Path) -> dict[str, str]:
    return {"minimart.environment": "test",
            "minimart.database_url": f"sqlite:///{tmp_path / 'cli.sqlite'}",
            "minimart.jwt_secret": TEST_JWT_SECRET, "minimart.currency": "usd",
            "minimart.images.directory": str(tmp_path / "images"), **FAST_ARGON2}


@pytest.fixture
def ini(tmp_path: Path, settings: dict[str, str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> str:
    """An ini for a fresh SQLite file, its schema made by `minimart db upgrade`."""
    for name in ("DATABASE_URL", "MINIMART_JWT_SECRET", "MINIMART_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    ini = migrated_ini(tmp_path / "cli.ini", settings)
    capsys.readouterr()
    return ini


@pytest.fixture
def app(ini: str, settings: dict[str, str]) -> Iterator[Any]:
    wsgi = make_app(settings, environ={})
    yield wsgi
    wsgi.registry.container.engine.dispose()


@pytest.fixture
def testapp(app: Any) -> TestApp:
    return TestApp(app)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def create(ini: str, capsys: pytest.CaptureFixture[str],
           monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make an account with `minimart create-account`; returns its id."""
    def make(email: str, role: str) -> str:
        monkeypatch.setenv("MINIMART_PASSWORD", PASSWORD)
        code, out, err = run(capsys, "-c", ini, "create-account", "--email", email,
                             "--name", role.title(), "--role", role)
        monkeypatch.delenv("MINIMART_PASSWORD")
        assert (code, err) == (0, ""), err
        return out.strip()
    return make


def sign_in(testapp: TestApp, email: str, status: int = 200, otp: str | None = None) -> Any:
    body = {"email": email, "password": PASSWORD, **({"otp": otp} if otp else {})}
    return testapp.post_json(TOKEN, body, status=status)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def row(app: Any, account_id: str) -> Any:
    with app.registry.container.engine.connect() as connection:
        return connection.execute(select(accounts).where(accounts.c.id == account_id)).one()


def trail(app: Any, action: str) -> list[Any]:
    with app.registry.container.engine.connect() as connection:
        return list(connection.execute(select(audit_events)
                                       .where(audit_events.c.action == action)))


def enrolment(out: str) -> tuple[str, list[str]]:
    """The otpauth URI and the recovery codes enrol-totp printed."""
    words = out.split()
    [uri] = [w for w in words if w.startswith("otpauth://")]
    return uri, [w for w in words if RECOVERY_CODE.match(w)]


def secret_of(uri: str) -> str:
    match = re.search(r"[?&]secret=([A-Z2-7]+)", uri)
    assert match, uri
    return match.group(1)


# --- disable-account ---------------------------------------------------------------------------

def test_disable_account_revokes_the_accounts_tokens_and_stops_sign_in(
        ini, app, testapp, create, capsys):
    create("shopper@example.com", "customer")
    token = sign_in(testapp, "shopper@example.com").json["access_token"]
    testapp.get(ME, headers=bearer(token))

    code, out, err = run(capsys, "-c", ini, "disable-account", "--email",
                         "shopper@example.com")

    assert (code, err) == (0, "")
    assert "disabled shopper@example.com" in out
    response = testapp.get(ME, headers=bearer(token), status=401)
    assert response.json["error"]["code"] == "unauthenticated"
    assert sign_in(testapp, "shopper@example.com", status=401).json["error"]["code"] == \
        "invalid_credentials"


def test_disable_account_finds_the_email_whatever_its_letter_case(
        ini, app, testapp, create, capsys):
    account_id = create("shopper@example.com", "customer")

    code, _, err = run(capsys, "-c", ini, "disable-account", "--email", " SHOPPER@Example.com ")

    assert (code, err) == (0, "")
    assert row(app, account_id).disabled


def test_disable_account_is_audited_as_done_by_the_system(ini, app, create, capsys):
    account_id = create("clerk@example.com", "staff")

    run(capsys, "-c", ini, "disable-account", "--email", "clerk@example.com")

    [event] = trail(app, "account.disabled")
    assert (event.entity_type, event.entity_id, event.actor_id) == (
        "account", account_id, "system")
    assert event.request_id.startswith("cli:")
    assert event.changes == {"disabled": [False, True]}


def test_disabling_twice_is_harmless(ini, app, create, capsys):
    account_id = create("shopper@example.com", "customer")
    run(capsys, "-c", ini, "disable-account", "--email", "shopper@example.com")
    generation = row(app, account_id).token_generation

    code, _, err = run(capsys, "-c", ini, "disable-account", "--email", "shopper@example.com")

    assert (code, err) == (0, "")
    assert row(app, account_id).token_generation == generation
    assert len(trail(app, "account.disabled")) == 1


def test_disable_account_with_an_unknown_email_exits_1_not_found(ini, app, create, capsys):
    other = create("shopper@example.com", "customer")

    code, out, err = run(capsys, "-c", ini, "disable-account", "--email",
                         "nobody@example.com")

    assert (code, out) == (1, "")
    assert err.startswith("not_found: ")
    assert not row(app, other).disabled


def test_disabling_one_account_leaves_the_others_signed_in(ini, app, testapp, create, capsys):
    create("shopper@example.com", "customer")
    create("other@example.com", "customer")
    token = sign_in(testapp, "other@example.com").json["access_token"]

    run(capsys, "-c", ini, "disable-account", "--email", "shopper@example.com")

    assert testapp.get(ME, headers=bearer(token)).json["email"] == "other@example.com"


# --- enrol-totp --------------------------------------------------------------------------------

def test_enrol_totp_prints_an_otpauth_uri_and_ten_recovery_codes(ini, create, capsys):
    create("clerk@example.com", "staff")

    code, out, err = run(capsys, "-c", ini, "enrol-totp", "--email", "clerk@example.com")

    assert (code, err) == (0, "")
    uri, codes = enrolment(out)
    assert uri.startswith("otpauth://totp/")
    assert "clerk%40example.com" in uri or "clerk@example.com" in uri
    assert "issuer=minimart" in uri
    assert len(secret_of(uri)) >= 16
    assert len(codes) == len(set(codes)) == 10


def test_enrol_totp_turns_two_factor_sign_in_on_at_once(ini, testapp, create, capsys):
    create("clerk@example.com", "staff")

    _, out, _ = run(capsys, "-c", ini, "enrol-totp", "--email", "clerk@example.com")

    uri, _ = enrolment(out)
    error = sign_in(testapp, "clerk@example.com", status=401).json["error"]
    assert error["code"] == "otp_required"
    code = pyotp.TOTP(secret_of(uri)).now()
    token = sign_in(testapp, "clerk@example.com", otp=code).json["access_token"]
    assert testapp.get(ME, headers=bearer(token)).json["email"] == "clerk@example.com"


def test_a_printed_recovery_code_signs_in_once(ini, testapp, create, capsys):
    create("boss@example.com", "admin")
    _, out, _ = run(capsys, "-c", ini, "enrol-totp", "--email", "boss@example.com")
    _, codes = enrolment(out)

    sign_in(testapp, "boss@example.com", otp=codes[0])

    assert sign_in(testapp, "boss@example.com", otp=codes[0], status=401).json["error"][
        "code"] == "invalid_credentials"


def test_enrol_totp_stores_the_recovery_codes_only_as_digests(ini, app, create, capsys):
    account_id = create("clerk@example.com", "staff")

    _, out, _ = run(capsys, "-c", ini, "enrol-totp", "--email", "clerk@example.com")

    _, codes = enrolment(out)
    stored = row(app, account_id)
    assert stored.totp_enabled
    assert len(stored.recovery_codes) == 10
    assert not any(c in repr(tuple(stored)) or c.replace("-", "") in repr(tuple(stored))
                   for c in codes)


def test_enrol_totp_refuses_a_customer(ini, app, create, capsys):
    account_id = create("shopper@example.com", "customer")

    code, out, err = run(capsys, "-c", ini, "enrol-totp", "--email", "shopper@example.com")

    assert (code, out) == (1, "")
    assert err.startswith("forbidden: ")
    assert row(app, account_id).totp_secret is None


def test_enrol_totp_with_an_unknown_email_exits_1_not_found(ini, capsys):
    code, out, err = run(capsys, "-c", ini, "enrol-totp", "--email", "nobody@example.com")

    assert (code, out) == (1, "")
    assert err.startswith("not_found: ")


def test_enrol_totp_is_audited_without_the_secret_or_the_codes(ini, app, create, capsys):
    account_id = create("clerk@example.com", "staff")

    _, out, _ = run(capsys, "-c", ini, "enrol-totp", "--email", "clerk@example.com")

    uri, codes = enrolment(out)
    [event] = trail(app, "account.totp_enrolment_started")
    assert (event.entity_id, event.actor_id) == (account_id, "system")
    text = repr(tuple(event))
    assert secret_of(uri) not in text
    assert not any(c in text for c in codes)


# --- unlock-account and forgetting old counters ------------------------------------------------

def guess(testapp: TestApp, email: str, status: int = 401) -> Any:
    return testapp.post_json(TOKEN, {"email": email, "password": "not the password"},
                             status=status, extra_environ={"REMOTE_ADDR": "203.0.113.7"})


def test_unlock_account_lets_a_delayed_address_sign_in_again_and_is_audited(
        ini, app, testapp, create, capsys):
    account_id = create("clerk@example.com", "staff")
    for _ in range(5):
        guess(testapp, "clerk@example.com")
    guess(testapp, "clerk@example.com", status=429)

    code, out, err = run(capsys, "-c", ini, "unlock-account", "--email", " Clerk@Example.com")

    assert (code, err) == (0, "")
    assert "unlocked clerk@example.com" in out and "from 1 addresses" in out
    testapp.post_json(TOKEN, {"email": "clerk@example.com", "password": PASSWORD},
                      extra_environ={"REMOTE_ADDR": "203.0.113.7"})
    [event] = trail(app, "account.unlocked")
    assert (event.entity_id, event.actor_id) == (account_id, "system")


def test_unlock_account_of_an_unknown_email_says_so(ini, capsys):
    code, _, err = run(capsys, "-c", ini, "unlock-account", "--email", "nobody@example.com")

    assert code == 1
    assert err.startswith("not_found:")


def test_expire_orders_forgets_sign_in_counters_that_count_for_nothing(ini, app, capsys):
    long_ago = datetime.now(UTC) - timedelta(days=2)
    with app.registry.container.engine.begin() as connection:
        connection.execute(login_failures.insert(), [
            {"key": "address:203.0.113.7", "count": 3, "window_started_at": long_ago},
            {"key": "address:198.51.100.2", "count": 1,
             "window_started_at": datetime.now(UTC)}])
        connection.execute(registration_attempts.insert(), [
            {"key": "address:203.0.113.7", "count": 3, "window_started_at": long_ago}])

    code, _, err = run(capsys, "-c", ini, "expire-orders")

    assert (code, err) == (0, "")
    with app.registry.container.engine.connect() as connection:
        assert list(connection.execute(select(login_failures.c.key))) == [
            ("address:198.51.100.2",)]
        assert list(connection.execute(select(registration_attempts.c.key))) == []

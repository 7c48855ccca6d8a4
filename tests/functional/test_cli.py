"""The `minimart` command, driven in-process through minimart.entrypoints.cli.main(argv)."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from minimart.adapters.sqlalchemy.database import make_engine, schema_is_current
from minimart.entrypoints.cli import main

PASSWORD = "owner password 123"

# development.ini's structure, on a throwaway SQLite file. Logging goes to a NullHandler:
# a StreamHandler would keep pytest's captured stderr after the test closes it.
INI = """\
[app:main]
use = egg:minimart

minimart.environment = {environment}
minimart.database_url = {database_url}
minimart.currency = usd
minimart.jwt_expiration_seconds = 3600
minimart.order_ttl_minutes = 30
minimart.argon2.time_cost = 1
minimart.argon2.memory_cost = 64
minimart.argon2.parallelism = 1

pyramid.reload_templates = false
pyramid.default_locale_name = en

[server:main]
use = egg:waitress#main
listen = 127.0.0.1:6543

[loggers]
keys = root

[handlers]
keys = null

[formatters]
keys = generic

[logger_root]
level = WARN
handlers = null

[handler_null]
class = NullHandler
args = ()
level = NOTSET
formatter = generic

[formatter_generic]
format = %(asctime)s %(levelname)-5.5s [%(name)s] %(message)s
"""


def write_ini(path: Path, database: Path, environment: str = "development") -> Path:
    path.write_text(INI.format(environment=environment, database_url=f"sqlite:///{database}"))
    return path


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ini decides; nothing leaks in from the shell that runs the tests."""
    for name in ("DATABASE_URL", "MINIMART_JWT_SECRET", "MINIMART_PASSWORD"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "minimart.sqlite"


@pytest.fixture
def ini(tmp_path: Path, database: Path) -> str:
    return str(write_ini(tmp_path / "minimart.ini", database))


@pytest.fixture
def query(database: Path) -> Any:
    """Run one SQL query on the CLI's database and return all rows."""
    def run(sql: str, **params: Any) -> list[Any]:
        engine = make_engine(f"sqlite:///{database}")
        try:
            with engine.connect() as connection:
                return list(connection.execute(text(sql), params))
        finally:
            engine.dispose()
    return run


@pytest.fixture
def migrated(ini: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["-c", ini, "db", "upgrade"]) == 0
    capsys.readouterr()
    return ini


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- db upgrade -------------------------------------------------------------------------------

def test_db_upgrade_migrates_an_empty_database(ini, database, capsys):
    code, out, err = run(capsys, "-c", ini, "db", "upgrade")
    assert (code, err) == (0, "")
    assert out.strip() == "database schema is current"
    engine = make_engine(f"sqlite:///{database}")
    try:
        assert schema_is_current(engine)
    finally:
        engine.dispose()


def test_db_upgrade_twice_is_harmless(migrated, capsys):
    code, out, _ = run(capsys, "-c", migrated, "db", "upgrade")
    assert code == 0
    assert "current" in out


# --- load-demo --------------------------------------------------------------------------------

def test_load_demo_adds_the_12_demo_items(migrated, query, capsys):
    code, out, err = run(capsys, "-c", migrated, "load-demo")
    assert (code, err) == (0, "")
    assert "12 items added" in out
    assert query("SELECT count(*) FROM items")[0][0] == 12
    skus = {row[0] for row in query("SELECT sku FROM items")}
    assert "BREAD-SOURDOUGH" in skus
    assert len(skus) == 12


def test_load_demo_twice_adds_none(migrated, query, capsys):
    assert run(capsys, "-c", migrated, "load-demo")[0] == 0
    code, out, err = run(capsys, "-c", migrated, "load-demo")
    assert (code, err) == (0, "")
    assert "0 items added" in out
    assert "12 already there" in out
    assert query("SELECT count(*) FROM items")[0][0] == 12


def test_load_demo_records_audit_events(migrated, query, capsys):
    run(capsys, "-c", migrated, "load-demo")
    rows = query("SELECT action, actor_id, request_id FROM audit_events")
    assert len(rows) == 12
    assert {row[0] for row in rows} == {"item.created"}
    assert all(row[2].startswith("cli:") for row in rows)


# --- create-account ---------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["admin", "staff", "customer"])
def test_create_account_prints_the_new_id(migrated, query, capsys, monkeypatch, role):
    monkeypatch.setenv("MINIMART_PASSWORD", PASSWORD)
    code, out, err = run(capsys, "-c", migrated, "create-account", "--email",
                         "Owner@Example.com", "--name", "Owner", "--role", role)
    assert (code, err) == (0, "")
    account_id = out.strip()
    assert account_id
    rows = query("SELECT email, name, role, password_hash FROM accounts WHERE id = :id",
                 id=account_id)
    assert len(rows) == 1
    email, name, stored_role, password_hash = rows[0]
    assert (email, name, stored_role) == ("owner@example.com", "Owner", role)
    assert password_hash.startswith("$argon2id$")
    assert PASSWORD not in password_hash


def test_create_account_with_a_taken_email_exits_1(migrated, query, capsys, monkeypatch):
    monkeypatch.setenv("MINIMART_PASSWORD", PASSWORD)
    argv = ["-c", migrated, "create-account", "--email", "owner@example.com", "--name", "O",
            "--role", "admin"]
    assert run(capsys, *argv)[0] == 0
    argv[4] = "OWNER@example.com"
    code, out, err = run(capsys, *argv)
    assert code == 1
    assert out == ""
    assert err.startswith("email_taken: ")
    assert query("SELECT count(*) FROM accounts")[0][0] == 1


def test_create_account_with_a_short_password_exits_1(migrated, query, capsys, monkeypatch):
    monkeypatch.setenv("MINIMART_PASSWORD", "short")
    code, out, err = run(capsys, "-c", migrated, "create-account", "--email", "a@example.com",
                         "--name", "A", "--role", "staff")
    assert code == 1
    assert out == ""
    assert err.startswith("validation_failed: ")
    assert query("SELECT count(*) FROM accounts")[0][0] == 0


def test_create_account_without_a_password_off_a_terminal_exits_1(migrated, query, capsys,
                                                                  monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, out, err = run(capsys, "-c", migrated, "create-account", "--email", "a@example.com",
                         "--name", "A", "--role", "admin")
    assert code == 1
    assert out == ""
    assert err.startswith("password_missing: ")
    assert query("SELECT count(*) FROM accounts")[0][0] == 0


def test_create_account_refuses_an_unknown_role(migrated, capsys, monkeypatch):
    monkeypatch.setenv("MINIMART_PASSWORD", PASSWORD)
    with pytest.raises(SystemExit) as exit_info:
        main(["-c", migrated, "create-account", "--email", "a@example.com", "--name", "A",
              "--role", "superuser"])
    assert exit_info.value.code == 2
    assert "superuser" in capsys.readouterr().err


# --- failures before any command runs ---------------------------------------------------------

def test_a_missing_ini_file_exits_1(tmp_path, capsys):
    missing = tmp_path / "nowhere.ini"
    code, out, err = run(capsys, "-c", str(missing), "db", "upgrade")
    assert code == 1
    assert out == ""
    assert err.startswith("config_missing: ")
    assert str(missing) in err


def test_invalid_settings_exit_1_naming_the_problem(tmp_path, database, capsys):
    ini = write_ini(tmp_path / "production.ini", database, environment="production")
    code, out, err = run(capsys, "-c", str(ini), "db", "upgrade")
    assert code == 1
    assert out == ""
    assert err.startswith("settings_invalid: ")
    assert not database.exists()


def test_expire_orders_runs_on_an_empty_store(migrated, capsys):
    code, out, err = run(capsys, "-c", migrated, "expire-orders")
    assert (code, err) == (0, "")
    assert "expired 0" in out


# --- create-account: the sign-up schema and password rules, on both backends ------------------

@pytest.fixture
def any_ini(tmp_path: Path, database_url: str) -> str:
    """development.ini's structure on the test database (SQLite, then PostgreSQL)."""
    path = tmp_path / "backend.ini"
    path.write_text(INI.format(environment="development", database_url=database_url))
    return str(path)


def accounts_in(database_url: str) -> int:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT count(*) FROM accounts")).scalar_one()
    finally:
        engine.dispose()


def test_create_account_refuses_what_sign_up_refuses_before_asking_a_password(
        any_ini, database_url, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # a prompt would fail: none comes

    code, out, err = run(capsys, "-c", any_ini, "create-account", "--email", "not-an-email",
                         "--name", "", "--role", "admin")

    assert (code, out) == (1, "")
    assert err.splitlines() == ["validation_failed: the account is not valid",
                                "  email: Not a valid email address.",
                                "  name: Length must be between 1 and 120."]
    assert accounts_in(database_url) == 0


@pytest.mark.parametrize(("password", "problem"), [
    pytest.param("short", "  password: must be at least 10 characters", id="short"),
    pytest.param("x" * 1025, "  password: Length must be between 1 and 1024.", id="long"),
])
def test_create_account_names_the_password_rule_it_breaks(any_ini, database_url, capsys,
                                                          monkeypatch, password, problem):
    monkeypatch.setenv("MINIMART_PASSWORD", password)

    code, out, err = run(capsys, "-c", any_ini, "create-account", "--email", "a@example.com",
                         "--name", "A", "--role", "staff")

    assert (code, out) == (1, "")
    assert err.startswith("validation_failed: ")
    assert problem in err.splitlines()
    assert accounts_in(database_url) == 0


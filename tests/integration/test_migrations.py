"""The migrations against tables.py, on SQLite and PostgreSQL: autogenerate finds nothing to
add, every migration downgrades and upgrades again on a database holding rows (which survive
wherever the schema keeps them), and the offline SQL builds the same schema."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import redirect_stdout
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from minimart.adapters.sqlalchemy.database import make_engine, upgrade_schema
from minimart.adapters.sqlalchemy.tables import metadata
from minimart.entrypoints.cli import main
from tests.conftest import BACKENDS, throwaway_postgres_database

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database of its own, at head: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'migrations.sqlite'}")
        upgrade_schema(engine)
        yield engine
        engine.dispose()
        return
    with throwaway_postgres_database() as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


def alembic_config(engine: Engine) -> Config:
    """What minimart's upgrade_schema hands Alembic: the shipped scripts and this engine."""
    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("minimart.adapters.sqlalchemy") / "migrations"))
    config.attributes["engine"] = engine
    return config


def differences(engine: Engine, declared: sa.MetaData = metadata) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "compare_type": True, "compare_server_default": True})
        return compare_metadata(context, declared)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


# --- autogenerate: tables.py and the migrations agree ---------------------------------------

def test_autogenerate_finds_no_difference_between_the_tables_and_the_migrations(engine):
    assert differences(engine) == []


def test_the_comparison_sees_a_column_the_migrations_lack(engine):
    """The check above can fail: a column declared but never migrated is a difference."""
    declared = sa.MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(declared)
    declared.tables["items"].append_column(sa.Column("colour", sa.String(20)))

    found = differences(engine, declared)

    assert [(kind, column.name) for kind, _, table, column in found
            if table == "items"] == [("add_column", "colour")]


# --- every migration down and up again, on data --------------------------------------------

def seed(engine: Engine) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    """A category, an item in it, a customer, their paid order of it with one line, a refund
    and an audit event, at head. Returns what to look for: table -> primary key -> columns."""
    rows: dict[str, list[dict[str, Any]]] = {
        "categories": [{"id": "cat1", "name": "Bread", "name_key": "bread", "description": "",
                        "position": 1, "created_at": NOW, "updated_at": NOW}],
        "items": [{"id": "item1", "sku": "BREAD-1", "name": "Sourdough",
                   "name_key": "sourdough", "description": "A loaf", "price": 450,
                   "stock": 7, "available": True, "featured": False, "archived": False,
                   "version": 3, "created_at": NOW, "updated_at": NOW,
                   "category_id": "cat1", "image_key": "pictures/bread.jpg"}],
        "accounts": [{"id": "acct1", "email": "owner@example.com", "name": "Owner",
                      "role": "customer", "password_hash": "$argon2id$v=19$not-a-real-one",
                      "disabled": False, "created_at": NOW, "token_generation": 2,
                      "totp_enabled": False, "recovery_codes": [],
                      "payment_customer_id": "cus_1", "phone": "+6591234567"}],
        "orders": [{"id": "order1", "customer_id": "acct1", "status": "paid",
                    "currency": "usd", "subtotal": 900, "tax": 72, "delivery_fee": 0,
                    "tip": 100, "total": 1072, "fulfilment_type": "pickup",
                    "payment_provider": "memory", "payment_status": "succeeded",
                    "payment_intent_id": "pi_1", "amount_captured": 1072,
                    "amount_refunded": 0, "amount_refund_claimed": 200,
                    "created_at": NOW, "updated_at": NOW, "note": "ring twice"}],
        "order_lines": [{"order_id": "order1", "position": 0, "item_id": "item1",
                         "sku": "BREAD-1", "name": "Sourdough", "unit_price": 450,
                         "quantity": 2}],
        "refunds": [{"id": "refund1", "order_id": "order1", "amount": 200,
                     "state": "pending", "created_at": NOW}],
        "audit_events": [{"id": "audit1", "at": NOW, "actor_id": "acct1",
                          "action": "order.placed", "entity_type": "order",
                          "entity_id": "order1", "changes": {"total": 1072},
                          "request_id": "req-1"}],
    }
    with engine.begin() as connection:
        for name, values in rows.items():
            connection.execute(metadata.tables[name].insert(), values)
    # compared as stored: plain values only (times and JSON read back differently per backend)
    plain = (str, int, bool)
    return {name: {tuple(row[c.name] for c in metadata.tables[name].primary_key):
                   {k: v for k, v in row.items() if type(v) in plain}
                   for row in values}
            for name, values in rows.items()}


def assert_kept(engine: Engine, expected: dict[str, dict[tuple[Any, ...], dict[str, Any]]],
                where: str) -> None:
    """Every seeded row is there, with its values, wherever the schema still has its table
    and columns. A table or column the schema lost is forgotten: coming back, it is new."""
    inspector = sa.inspect(engine)
    for name in list(expected):
        if not inspector.has_table(name):
            del expected[name]
            continue
        present = {column["name"] for column in inspector.get_columns(name)}
        keys = [c.name for c in metadata.tables[name].primary_key]
        for key, columns in expected[name].items():
            for gone in set(columns) - present:
                del columns[gone]
            table = sa.table(name, *(sa.column(c) for c in {*columns, *keys}))
            with engine.connect() as connection:
                found = connection.execute(
                    sa.select(*(table.c[c] for c in columns))
                    .where(*(table.c[k] == v for k, v in zip(keys, key, strict=True)))
                ).mappings().all()
            assert [dict(row) for row in found] == [columns], f"{name} {key} {where}"


def test_every_migration_downgrades_and_upgrades_again_on_a_database_with_rows(engine):
    config = alembic_config(engine)
    expected = seed(engine)
    revisions = list(ScriptDirectory.from_config(config).walk_revisions())  # newest first
    assert len(revisions) >= 12

    for script in revisions:
        below = script.down_revision or "base"
        assert isinstance(below, str), "no merge revisions expected"
        command.downgrade(config, below)
        assert current_revision(engine) == (script.down_revision or None)
        assert_kept(engine, expected, f"after downgrading {script.revision}")

        command.upgrade(config, script.revision)
        assert current_revision(engine) == script.revision
        assert_kept(engine, expected, f"after upgrading {script.revision} again")

        command.downgrade(config, below)  # and on down to the next
    assert expected == {}, "at base, no table of the schema is left"

    for script in reversed(revisions):  # back up one step at a time, on the empty schema
        command.upgrade(config, script.revision)
    assert current_revision(engine) == revisions[0].revision
    assert differences(engine) == []


# --- offline SQL ----------------------------------------------------------------------------

# production's app section (no secret set) and logging to a NullHandler
OFFLINE_INI = """\
[app:main]
use = egg:minimart
minimart.environment = production

[loggers]
keys = root

[handlers]
keys = null

[formatters]
keys =

[logger_root]
level = WARN
handlers = null

[handler_null]
class = NullHandler
args = ()
"""


@pytest.mark.postgres
def test_offline_sql_builds_the_schema_the_migrations_build(monkeypatch, tmp_path):
    """`minimart db sql`, run on an empty PostgreSQL database, gives tables.py's schema."""
    ini = tmp_path / "offline.ini"
    ini.write_text(OFFLINE_INI)
    with throwaway_postgres_database("base") as url:
        monkeypatch.setenv("DATABASE_URL", url)
        engine = make_engine(url)
        with engine.begin() as connection:  # "base" left Alembic's own table: empty it all
            connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        output = io.StringIO()
        with redirect_stdout(output):
            assert main(["-c", str(ini), "db", "sql"]) == 0
        sql = output.getvalue()
        assert sql.startswith("BEGIN;") and sql.rstrip().endswith("COMMIT;")

        try:
            assert sa.inspect(engine).get_table_names() == []  # nothing connected to it
            with engine.connect() as connection:  # the script as psql would run it
                connection.connection.dbapi_connection.cursor().execute(sql)
            assert current_revision(engine) is not None
            assert differences(engine) == []
        finally:
            engine.dispose()

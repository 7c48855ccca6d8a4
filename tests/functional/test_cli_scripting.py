"""The `minimart` command as cron jobs and scripts use it: the real console script in a
subprocess (its stderr is what a cron job mails), plus its parser in-process."""

from __future__ import annotations

import argparse
import csv
import io
import os
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from minimart.entrypoints import cli, shop_commands
from tests.functional.test_cli import write_ini

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]
SECRETS = ("DATABASE_URL", "MINIMART_JWT_SECRET", "MINIMART_PASSWORD", "STRIPE_API_KEY",
           "STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE", "MINIMART_METRICS_TOKEN")


def minimart(*argv: str, env: dict[str, str] | None = None,
             stderr_file: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The installed console script; nothing of the test run's environment leaks in (no
    secret, no PYTHONWARNINGS: the warnings seen are those a cron job would see)."""
    clean = {k: v for k, v in os.environ.items()
             if k not in SECRETS and not k.startswith("PYTHONWARNINGS")}
    with (stderr_file.open("w") if stderr_file else open(os.devnull, "w")) as log:
        done = subprocess.run(
            [str(BIN / "minimart"), *argv], env={**clean, **(env or {})}, text=True,
            stdout=subprocess.PIPE, stderr=log if stderr_file else subprocess.PIPE,
            timeout=120, check=False)
    return done


@pytest.fixture(scope="module")
def ini(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite store, its ini logging WARN and above (as production.ini does);
    migrated with -c after the subcommand."""
    folder = tmp_path_factory.mktemp("scripting")
    path = str(write_ini(folder / "minimart.ini", folder / "minimart.sqlite"))
    done = minimart("db", "upgrade", "-c", path)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert done.stdout == "database schema is current\n"
    return path


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens once the probe is closed


# --- the console script ---------------------------------------------------------------------

def test_version_prints_the_installed_version():
    done = minimart("--version")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == f"minimart {metadata.version('minimart')}\n"


def test_commands_print_no_library_warning_and_take_c_after_the_command(ini):
    done = minimart("load-demo", "-c", ini)
    assert (done.returncode, done.stderr) == (0, "")
    assert "12 items added" in done.stdout

    current = minimart("db", "current", "--config", ini)
    assert (current.returncode, current.stderr) == (0, "")
    assert current.stdout.endswith("(head)\n")


def test_a_database_that_is_down_is_one_line_and_exit_1(ini):
    down = {"DATABASE_URL": f"postgresql://minimart@127.0.0.1:{closed_port()}/minimart"}
    for argv in (("db", "current"), ("expire-orders",)):
        done = minimart("-c", ini, *argv, env=down)
        assert done.returncode == 1, argv
        assert done.stdout == ""
        assert done.stderr.startswith("database_unavailable: "), done.stderr
        assert len(done.stderr.splitlines()) == 1, done.stderr  # no traceback


@pytest.mark.postgres
def test_db_current_with_production_ini_needs_no_payment_or_token_secret(postgres_url):
    done = minimart("-c", str(ROOT / "production.ini"), "db", "current",
                    env={"DATABASE_URL": postgres_url})
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.endswith("(head)\n")

    app = minimart("-c", str(ROOT / "production.ini"), "expire-orders",
                   env={"DATABASE_URL": postgres_url})
    assert app.returncode == 1  # the commands that build the app still want them
    assert app.stderr.startswith("settings_invalid: ")


def test_an_export_to_a_missing_directory_is_cannot_write(ini, tmp_path):
    target = tmp_path / "no" / "such" / "items.csv"
    done = minimart("-c", ini, "export-items", str(target))
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith(f"cannot_write: cannot write {target}"), done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_a_long_import_draws_no_progress_frames_into_a_log_file(ini, tmp_path):
    source = tmp_path / "many.csv"
    with source.open("w", newline="") as target:
        writer = csv.writer(target)
        writer.writerow(["sku", "name", "price", "stock"])
        writer.writerows([f"BULK-{n}", f"Bulk item {n}", 100 + n, 5] for n in range(600))
    log = tmp_path / "cron.log"

    done = minimart("-c", ini, "import-items", str(source), stderr_file=log)

    assert done.returncode == 0, log.read_text()
    assert done.stdout.startswith("imported 600 rows: 600 created")
    assert log.read_text() == ""  # neither \r frames nor the finished bar


# --- in-process: the parser and the progress bar --------------------------------------------

class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("stream", "drawn"), [(Terminal, True), (io.StringIO, False)])
def test_progress_is_drawn_on_a_terminal_only(monkeypatch, stream, drawn):
    stderr = stream()
    monkeypatch.setattr(sys, "stderr", stderr)
    progress = shop_commands._Progress(600)
    for done in range(1, 601):
        progress(done)
    assert ("\r[" in stderr.getvalue()) is drawn
    assert stderr.getvalue().endswith("600/600 rows\n") is drawn


def parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found.extend(parsers(sub))
    return found


def test_every_argument_and_command_has_help_text():
    missing = []
    for parser in parsers(cli.build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helped = {choice.dest for choice in action._choices_actions if choice.help}
                missing += [f"{parser.prog} {name}" for name in action.choices
                            if name not in helped]
            elif not action.help:
                missing.append(f"{parser.prog} {action.option_strings or action.dest}")
    assert missing == []


def test_a_refused_command_line_is_bad_argument_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["db", "downgrade"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "bad_argument: the following arguments are required: revision")


def test_c_is_read_before_and_after_the_command_the_later_one_winning():
    parse = cli.build_parser().parse_args
    assert parse(["load-demo"]).config == "development.ini"
    assert parse(["-c", "a.ini", "load-demo"]).config == "a.ini"
    assert parse(["load-demo", "-c", "b.ini"]).config == "b.ini"
    assert parse(["-c", "a.ini", "db", "upgrade", "--config", "b.ini"]).config == "b.ini"
    assert parse(["db", "-c", "c.ini", "current"]).config == "c.ini"

"""The `minimart` command: the owner's tools, driving the same services as the web app.

Each command runs in one transaction (`Container.in_transaction`). Expected failures print
`code: message` and exit 1.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from importlib import resources
from typing import Any

from marshmallow import Schema, ValidationError
from pyramid.paster import bootstrap, setup_logging

from minimart.domain.actors import Actor, Role
from minimart.domain.catalog import NewItem
from minimart.domain.errors import DomainError, ValidationFailed
from minimart.domain.services.catalog_transfer import COLUMNS
from minimart.domain.services.wiring import Services
from minimart.entrypoints import catalog_csv
from minimart.entrypoints.schemas.accounts import Registration
from minimart.settings import SettingsError


class CliError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _password_from_user() -> str:
    password = os.environ.get("MINIMART_PASSWORD")
    if password:
        return password
    if not sys.stdin.isatty():
        raise CliError("password_missing",
                       "set MINIMART_PASSWORD or run on a terminal to be asked")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Password again: "):
        raise CliError("password_mismatch", "the two passwords differ")
    return first


def create_account(services: Services, args: argparse.Namespace) -> str:
    """Checked by the sign-up schema (and so in its words) before the password is asked
    for, and again with it; the service then applies the password rules."""
    fields = {"email": args.email, "name": args.name}
    _load(Registration(), fields, "the account is not valid", partial=("password",))
    data = _load(Registration(), {**fields, "password": _password_from_user()},
                 "the account is not valid")
    account = services.accounts.create_account(
        data["email"], data["password"], data["name"], Role(args.role), _actor())
    return account.id


def _load(schema: Schema, data: dict[str, Any], message: str,
          partial: tuple[str, ...] = ()) -> dict[str, Any]:
    """The schema's load, its refusal a ValidationFailed naming each field's problems."""
    try:
        return schema.load(data, partial=partial)
    except ValidationError as error:
        problems = error.normalized_messages()
        raise ValidationFailed(message, details={
            name: value if isinstance(value, list) else [str(value)]
            for name, value in problems.items()}) from None


def disable_account(services: Services, args: argparse.Namespace) -> str:
    account = services.accounts.disable(args.email, _actor())
    return f"disabled {account.email}; its tokens no longer work"


def unlock_account(services: Services, args: argparse.Namespace) -> str:
    account, cleared = services.accounts.unlock(args.email, _actor())
    return f"unlocked {account.email}: forgot its failed sign-ins from {cleared} addresses"


def enrol_totp(services: Services, args: argparse.Namespace) -> str:
    """Enrol a staff or admin account in two-factor sign-in (for shops that require it)."""
    account = services.accounts.find_by_email(args.email)
    enrolment = services.accounts.begin_totp(account.id, "", _actor())
    codes = "\n  ".join(enrolment.recovery_codes)
    return (f"add this to the authenticator app (or show it as a QR code):\n  "
            f"{enrolment.otpauth_uri}\nrecovery codes, each works once; keep them safe:\n"
            f"  {codes}")


def load_demo(services: Services, args: argparse.Namespace) -> str:
    """Load the demo catalog once; items whose sku exists already are left alone."""
    catalog = services.catalog
    entries = json.loads(resources.files("minimart").joinpath("demo_catalog.json").read_text())
    added = 0
    for entry in entries:
        try:
            catalog.create_item(NewItem(**entry), _actor())
            added += 1
        except DomainError as error:
            if error.code != "sku_taken":
                raise
    return f"demo catalog: {added} items added, {len(entries) - added} already there"


def db_upgrade(container: Any, args: argparse.Namespace) -> str:
    container.upgrade_schema()
    return "database schema is current"


def expire_orders(services: Services, args: argparse.Namespace) -> str:
    """Cancel unpaid orders past the TTL; safe to run from cron on several hosts at once."""
    expired = services.orders.expire_pending(_actor())
    services.accounts.forget_old_attempts()  # the cron job that keeps tables small
    return f"expired {expired} unpaid orders"


def sweep_pictures(services: Services, args: argparse.Namespace) -> str:
    """Delete picture files no item shows, once no cached page can still name them."""
    swept = services.catalog.sweep_pictures(timedelta(days=args.older_than_days),
                                                    _actor())
    return f"deleted {len(swept)} unused pictures"


def reconcile_payments(services: Services, args: argparse.Namespace) -> str:
    """Ask the provider about orders pending for a while, so missed webhooks heal."""
    report = services.payments.reconcile(_actor(), services.policies.reconcile_after)
    return (f"checked {report.checked} pending orders: {report.paid} paid, "
            f"{report.cancelled} cancelled; {report.refunds_finished} refunds finished; "
            f"{report.failed} could not be checked (tried again next run)")


class _Progress:
    """A progress bar on stderr for long imports; silent for short ones."""

    def __init__(self, total: int, threshold: int = 500) -> None:
        self._total = total
        self._shown = total >= threshold

    def __call__(self, done: int) -> None:
        if self._shown and (done % 100 == 0 or done == self._total):
            filled = 30 * done // self._total
            print(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{self._total} rows",
                  end="\n" if done == self._total else "", file=sys.stderr, flush=True)


def import_items(services: Services, args: argparse.Namespace) -> str:
    """Create or update items from a CSV file, all or nothing."""
    try:
        with open(args.file, newline="", encoding="utf-8-sig") as source:
            rows = catalog_csv.read_rows(source, args.file)
    except FileNotFoundError:
        raise CliError("bad_csv", f"no such file: {args.file}") from None
    except OSError as error:
        raise CliError("bad_csv", f"cannot read {args.file}: {error.strerror}") from None
    except catalog_csv.CsvProblem as error:
        raise CliError("bad_csv", str(error)) from None
    report = services.transfer.import_rows(
        rows, _actor(), catalog_csv.load_fields, _Progress(len(rows)))
    if report.rejected:
        for row in report.rejected:
            print(f"line {row.line}: {'; '.join(row.reasons)}", file=sys.stderr)
        raise CliError("rows_rejected", f"{len(report.rejected)} rows rejected; "
                                        "nothing was imported")
    return (f"imported {len(rows)} rows: {report.created} created, {report.updated} updated, "
            f"{report.unchanged} unchanged")


def export_items(services: Services, args: argparse.Namespace) -> str:
    """Write the items on sale as CSV (the columns import-items reads)."""
    try:
        target = sys.stdout if args.file == "-" else open(  # noqa: SIM115
            args.file, "w", newline="", encoding="utf-8")
    except OSError as error:
        raise CliError("cannot_write", f"cannot write {args.file}: {error.strerror}") from None
    try:
        count = catalog_csv.write_rows(target, services.transfer.export_rows(
            _actor()))
    finally:
        if target is not sys.stdout:
            target.close()
    return f"exported {count} items" if args.file != "-" else ""


def _actor() -> Actor:
    return Actor.system(request_id=f"cli:{os.getpid()}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minimart", description=__doc__)
    parser.add_argument("-c", "--config", default="development.ini",
                        help="the ini file (default: development.ini)")
    commands = parser.add_subparsers(dest="command", required=True)

    create = commands.add_parser("create-account", help="create an account of any role")
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.set_defaults(handler=create_account, transactional=True)

    disable = commands.add_parser("disable-account",
                                  help="stop an account signing in and revoke its tokens")
    disable.add_argument("--email", required=True)
    disable.set_defaults(handler=disable_account, transactional=True)

    unlock = commands.add_parser("unlock-account",
                                 help="forget an account's failed sign-ins (audited)")
    unlock.add_argument("--email", required=True)
    unlock.set_defaults(handler=unlock_account, transactional=True)

    totp = commands.add_parser("enrol-totp", help="set up two-factor sign-in for staff")
    totp.add_argument("--email", required=True)
    totp.set_defaults(handler=enrol_totp, transactional=True)

    demo = commands.add_parser("load-demo", help="load the demo catalog")
    demo.set_defaults(handler=load_demo, transactional=True)

    importer = commands.add_parser("import-items",
                                   help="create or update items from CSV (all or nothing)")
    importer.add_argument("file", help=f"CSV with the columns {', '.join(COLUMNS)}")
    importer.set_defaults(handler=import_items, transactional=True)

    exporter = commands.add_parser("export-items", help="write the items on sale as CSV")
    exporter.add_argument("file", help="where to write, or - for standard output")
    exporter.set_defaults(handler=export_items, transactional=True)

    expire = commands.add_parser("expire-orders",
                                 help="cancel unpaid orders past minimart.order_ttl_minutes")
    expire.set_defaults(handler=expire_orders, transactional=True)

    sweep = commands.add_parser("sweep-pictures",
                                help="delete picture files no item has shown for a while")
    sweep.add_argument("--older-than-days", type=float, default=7,
                       help="stored (or stored again) this long ago at least; default 7, "
                            "at least 1")
    sweep.set_defaults(handler=sweep_pictures, transactional=True)

    reconcile = commands.add_parser(
        "reconcile-payments", help="apply what the payment provider knows about pending orders")
    reconcile.set_defaults(handler=reconcile_payments, transactional=True)

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser("upgrade", help="apply the migrations")
    upgrade.set_defaults(handler=db_upgrade, transactional=False)
    return parser


Handler = Callable[[Any, argparse.Namespace], Any]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not os.path.exists(args.config):
        print(f"config_missing: no such ini file: {args.config}", file=sys.stderr)
        return 1
    setup_logging(args.config)
    handler: Handler = args.handler
    try:
        with bootstrap(args.config) as env:
            container = env["registry"].container
            try:
                if args.transactional:
                    result = container.in_transaction(
                        lambda services: handler(services, args))
                else:
                    result = handler(container, args)
            finally:
                container.close()
    except (DomainError, CliError) as error:
        print(f"{error.code}: {error.message}", file=sys.stderr)
        for name, problems in getattr(error, "details", {}).items():
            if isinstance(problems, list):
                print(f"  {name}: {' '.join(map(str, problems))}", file=sys.stderr)
        return 1
    except SettingsError as error:
        print(f"settings_invalid: {error}", file=sys.stderr)
        return 1
    if result:
        print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The shop's commands: each takes the services of one transaction and the parsed
arguments, and returns its one-line result (expected failures raise CliError or a
DomainError, which `minimart` prints as `code: message`)."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from datetime import timedelta
from importlib import resources
from typing import Any

from marshmallow import Schema, ValidationError

from minimart.domain.actors import Actor, Role
from minimart.domain.catalog import NewItem
from minimart.domain.errors import DomainError, ValidationFailed
from minimart.domain.services.wiring import Services
from minimart.entrypoints import catalog_csv
from minimart.entrypoints.schemas.accounts import Registration


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
    """A progress bar on stderr for long imports, when stderr is a terminal: never in a log
    file or a pipe (its frames are redrawn with \\r), and never for short imports."""

    def __init__(self, total: int, threshold: int = 500) -> None:
        self._total = total
        self._shown = total >= threshold and sys.stderr.isatty()

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

"""HTML forms validated by the API's own marshmallow schemas.

A form posts strings; each field's converter turns its string into the schema's type (a
price typed as "12.50" into minor units), then the schema loads the result exactly as it
loads a JSON body. What the shopper typed is kept to show again, with each message beside
its field.

The form views catch DomainError only to show it on the form: `refuse` dooms the
transaction, so a failed attempt commits nothing, the same guarantee pyramid_tm gives when
an exception view answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from marshmallow import Schema, ValidationError
from pyramid.request import Request

from minimart.domain.accounts import RateLimited
from minimart.domain.errors import DomainError
from minimart.entrypoints.web.html.money import parse_amount
from minimart.entrypoints.web.problems import status_of

FORM = "_form"  # messages about the whole form, shown above it


class _Omit:
    """A converter's answer for "leave this field out", so the schema's default applies."""


OMIT = _Omit()
Converter = Callable[[str], Any]


def text(raw: str) -> str:
    return raw.strip()


def secret(raw: str) -> str:
    """Passwords are taken as typed: spaces may be part of them."""
    return raw


def optional_text(raw: str) -> str | None:
    """Blank means "none" (an item without a sku or category)."""
    return raw.strip() or None


def omitted_if_blank(raw: str) -> Any:
    return raw.strip() or OMIT


def whole_number(raw: str) -> int:
    if not re.fullmatch(r"[+-]?[0-9]{1,12}", raw.strip()):
        raise ValueError("Enter a whole number.")
    return int(raw.strip())


def checkbox(raw: str) -> bool:
    return raw != ""


def amount(currency: str, *, optional: bool = False) -> Converter:
    def convert(raw: str) -> Any:
        if optional and not raw.strip():
            return OMIT
        return parse_amount(raw, currency)

    return convert


@dataclass
class Form:
    """What was typed, and what is wrong with it, keyed by field name."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.errors

    def value(self, name: str) -> str:
        return self.values.get(name, "")

    def error(self, name: str) -> list[str]:
        return self.errors.get(name, [])

    def add(self, name: str, *messages: str) -> None:
        """Put messages beside a field; a name that is not a field goes above the form."""
        name = self.aliases.get(name, name)
        if name not in self.values:
            name = FORM
        self.errors.setdefault(name, []).extend(m for m in messages
                                                if m not in self.errors.get(name, []))


def read_form(params: Mapping[str, str], converters: Mapping[str, Converter], schema: Schema,
              *, aliases: Mapping[str, str] | None = None,
              build: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
              ) -> tuple[dict[str, Any] | None, Form]:
    """Convert the posted strings and load them with the schema; build reshapes the
    converted fields into the schema's document (an order's lines). Returns the loaded
    data, or None when anything is wrong, and the form to show again."""
    form = Form(values={name: str(params.get(name, "")) for name in converters},
                aliases=aliases or {})
    data: dict[str, Any] = {}
    for name, convert in converters.items():
        try:
            converted = convert(form.values[name])
        except ValueError as error:
            form.add(name, str(error))
            continue
        if converted is not OMIT:
            data[name] = converted
    unreadable = set(form.errors)
    try:
        loaded = schema.load(build(data) if build else data)
    except ValidationError as error:
        for key, messages in flatten_messages(error.messages):
            if form.aliases.get(key, key) not in unreadable:
                form.add(key, *(_sentence(m) for m in messages))
        return None, form
    return (loaded if form.valid else None), form


def flatten_messages(messages: Any, prefix: str = "") -> Iterator[tuple[str, list[str]]]:
    """marshmallow's nested messages as (dotted field name, messages): lines.0.quantity."""
    if isinstance(messages, dict):
        for key, inner in messages.items():
            name = str(key) if key != "_schema" else FORM
            yield from flatten_messages(inner, f"{prefix}.{name}" if prefix else name)
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        yield prefix or FORM, list(messages)
    else:
        yield prefix or FORM, [str(messages)]


def refuse(request: Request, form: Form, error: DomainError,
           field_of_code: Mapping[str, str] | None = None) -> None:
    """Show a service's refusal on the form, with the API's status, committing nothing."""
    request.tm.doom()
    request.response.status_int = status_of(error)
    if isinstance(error, RateLimited):
        request.response.headers["Retry-After"] = str(error.retry_after)
    readable = {key: messages for key, messages in error.details.items()
                if isinstance(messages, list) and all(isinstance(m, str) for m in messages)}
    for key, messages in readable.items():
        form.add(key, *(_sentence(m) for m in messages))
    target = (field_of_code or {}).get(error.code)
    if target is not None or not readable:
        form.add(target or FORM, _sentence(error.message))


def invalid(request: Request) -> None:
    """The answer to a form the schema refused: 422, as the API answers."""
    request.response.status_int = 422


def _sentence(message: str) -> str:
    """Service messages are lowercase fragments; a page shows sentences."""
    message = message[:1].upper() + message[1:]
    return message if message.endswith((".", "!", "?")) else message + "."

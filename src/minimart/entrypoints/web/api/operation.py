"""Each REST operation declared once, beside its view.

A resource module makes one `Operations` and declares each view with it:

    api = Operations(tag="catalog")

    @api.operation("GET", "/items/{id}", route="api.items.detail", operation_id="getItem",
                   summary="One item", answers=(Answer(200, ItemSchema, "the item", ("ETag",)),
                                                NOT_MODIFIED),
                   headers=(IF_NONE_MATCH,))
    def get_item(request: Request) -> dict[str, Any]: ...

    def includeme(config: Configurator) -> None:
        api.register(config)

That one record adds the Pyramid route and view with its permission, and is what
openapi.py collects into the document: its request, query and response schemas
(marshmallow, converted by apispec), its headers, and the error kinds it may answer —
those it names plus those its shape implies (a body, a permission, an id in the path, a
query), each with its status and code from the one error table (problems.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from marshmallow import Schema
from pyramid.config import Configurator
from pyramid.request import Request

from minimart.domain import errors
from minimart.domain.actors import ROLE_PERMISSIONS, Permission, Role
from minimart.entrypoints.web.problems import (
    BadRequest,
    InvalidRequest,
    Kind,
    MalformedJson,
    PayloadTooLarge,
    UnsupportedMediaType,
)

API_PREFIX = "/api/v1"
JsonSchema = dict[str, Any]
View = TypeVar("View", bound=Callable[[Request], Any])


@dataclass(frozen=True, slots=True)
class Answer:
    """A success response: its status, its body's schema (None: no body), and the names
    of the response headers it carries (components of the document: Location, ETag)."""

    status: int
    schema: type[Schema] | None = None
    description: str = "done"
    headers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Header:
    """A request header the operation reads."""

    name: str
    description: str
    schema: JsonSchema
    required: bool = False


NO_CONTENT = Answer(204, None, "done; no content")
NOT_MODIFIED = Answer(304, None, "the caller's copy (If-None-Match) is current", ("ETag",))
IF_MATCH = Header("If-Match", "the ETag the change is based on; a stale one answers 412",
                  {"type": "string"})
IF_NONE_MATCH = Header("If-None-Match",
                       "an ETag the caller holds; a current one answers 304",
                       {"type": "string"})
# what reading a JSON body can refuse (api/body.py)
BODY_FAILURES: tuple[Kind, ...] = (MalformedJson, BadRequest, PayloadTooLarge,
                                   UnsupportedMediaType, InvalidRequest)


@dataclass(frozen=True, slots=True)
class Operation:
    """One method on one path of /api/v1, as the route table and the document see it."""

    view: Callable[[Request], Any]
    method: str
    path: str  # below API_PREFIX: "/items/{id}"
    route: str  # the Pyramid route name, shared by the operations of one path
    operation_id: str
    summary: str
    tag: str
    answers: tuple[Answer, ...]
    permission: Permission | None = None  # None: public
    body: type[Schema] | None = None  # a JSON body, loaded with this schema
    body_required: bool = True
    raw_body: Mapping[str, JsonSchema] | None = None  # other bodies, by media type
    query: type[Schema] | None = None
    headers: tuple[Header, ...] = ()
    errors: tuple[Kind, ...] = ()  # beyond those the operation's shape implies
    database: bool = True

    @property
    def pattern(self) -> str:
        return API_PREFIX + self.path

    @property
    def roles(self) -> tuple[Role, ...] | None:
        """The roles whose permissions include the operation's, from the domain's map."""
        if self.permission is None:
            return None
        return tuple(role for role in Role if self.permission in ROLE_PERMISSIONS[role])

    def error_kinds(self) -> tuple[Kind, ...]:
        """Every kind of error the operation may answer, each once, in a stable order."""
        kinds: list[Kind] = [BadRequest]  # a URL that is not UTF-8 or holds a NUL
        if self.body is not None:
            kinds += BODY_FAILURES
        if self.raw_body is not None:
            kinds.append(PayloadTooLarge)
        if self.roles is not None:
            kinds.append(errors.Unauthenticated)
            if set(self.roles) != set(Role):
                kinds.append(errors.Forbidden)
        if "{" in self.path:
            kinds.append(errors.NotFound)
        if self.query is not None:
            kinds.append(InvalidRequest)
        kinds += self.errors
        if self.database:
            kinds.append(errors.Unavailable)
        return tuple(dict.fromkeys(kinds))


class Operations:
    """A resource module's operations, in the order declared."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.declared: list[Operation] = []

    def operation(self, method: str, path: str, *, route: str, operation_id: str,
                  summary: str, answers: tuple[Answer, ...],
                  permission: Permission | None = None, body: type[Schema] | None = None,
                  body_required: bool = True,
                  raw_body: Mapping[str, JsonSchema] | None = None,
                  query: type[Schema] | None = None, headers: tuple[Header, ...] = (),
                  errors: tuple[Kind, ...] = (), database: bool = True,
                  ) -> Callable[[View], View]:
        """Declare the decorated view as the operation `method path`."""
        def declare(view: View) -> View:
            self.declared.append(Operation(
                view, method.upper(), path, route, operation_id, summary, self.tag,
                answers, permission, body, body_required, raw_body, query, headers, errors,
                database))
            return view

        return declare

    def register(self, config: Configurator) -> None:
        """Add each route once (the operations of a path share it), then each view with
        its method and permission."""
        patterns: dict[str, str] = {}
        for op in self.declared:
            if patterns.setdefault(op.route, op.pattern) != op.pattern:
                raise ValueError(f"route {op.route} is declared with two paths")
        for route, pattern in patterns.items():
            config.add_route(route, pattern)
        for op in self.declared:
            config.add_view(op.view, route_name=op.route, request_method=op.method,
                            permission=None if op.permission is None else op.permission.value)

"""One error vocabulary: every error kind has its status in one table (problems.py), every
code a kind carries is in the OpenAPI document (except the few named here, with the
reason), and the document names no code that no kind carries."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

import minimart
import minimart.composition  # defines every kind the app can raise (the adapters' too)
from minimart.domain.errors import DomainError
from minimart.entrypoints.web.api import openapi
from minimart.entrypoints.web.problems import (
    KIND_STATUS,
    STATUSES,
    HttpProblem,
    general_code,
    status_of,
    title_of,
)

SOURCE = Path(minimart.__file__).parent
# codes that are real but never promised by an operation
UNDOCUMENTED = {
    "domain_error": "the abstract base: every error a service raises is a kind below it",
    "conflict": "the general conflict: every conflict a service raises names its own code",
    "method_not_allowed": "answered for a method no operation declares, with Allow",
    "internal_error": "a fault on our side, never a promise",
}


def kinds() -> set[type[Any]]:
    found: set[type[Any]] = set()
    stack: list[type[Any]] = [DomainError, HttpProblem]
    while stack:
        kind = stack.pop()
        if kind not in found:
            found.add(kind)
            stack.extend(kind.__subclasses__())
    return found


@pytest.fixture(scope="module")
def documented() -> set[str]:
    return {code for item in openapi.openapi_document()["paths"].values()
            for op in item.values() for code in op["x-error-codes"]}


def test_every_kind_has_a_status_the_table_describes():
    assert len(kinds()) > 30
    for kind in kinds():
        assert status_of(kind) in STATUSES, kind


def test_a_code_means_one_status():
    statuses: dict[str, set[int]] = defaultdict(set)
    for kind in kinds():
        statuses[kind.code].add(status_of(kind))
    assert {code: found for code, found in statuses.items() if len(found) > 1} == {}


def test_every_code_a_kind_carries_is_in_the_document(documented):
    missing = {kind.code for kind in kinds()} - documented - UNDOCUMENTED.keys()
    assert not missing, f"codes no operation declares: {sorted(missing)}"
    assert not UNDOCUMENTED.keys() & documented, "an exemption is documented after all"
    assert "amount_mismatch" in documented


def test_the_document_names_no_code_that_no_kind_carries(documented):
    assert documented <= {kind.code for kind in kinds()}


def test_each_operation_documents_the_status_of_every_code_it_declares():
    by_code = {kind.code: status_of(kind) for kind in kinds()}
    for path, item in openapi.openapi_document()["paths"].items():
        for method, op in item.items():
            for code in op["x-error-codes"]:
                assert str(by_code[code]) in op["responses"], (path, method, code)


def code_overrides() -> list[tuple[str, str, str]]:
    """(file:line, the class raised, the code given) for every `Kind(..., code="…")`."""
    found = []
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            for keyword in node.keywords:
                if keyword.arg == "code" and isinstance(keyword.value, ast.Constant):
                    name = node.func.id if isinstance(node.func, ast.Name) else \
                        getattr(node.func, "attr", "?")
                    found.append((f"{path.relative_to(SOURCE)}:{node.lineno}", name,
                                  keyword.value.value))
    return found


def test_no_raise_gives_a_code_of_its_own():
    """A code is a named kind's (`EmailTaken("…")`, never `Conflict("…", code="…")`), so
    the table and the document know every code there is."""
    assert code_overrides() == []


def test_the_general_code_of_a_status_is_what_the_views_always_answered():
    former = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 412: "precondition_failed",
              413: "payload_too_large", 415: "unsupported_media_type",
              422: "validation_failed", 429: "rate_limited", 503: "unavailable"}
    assert {status: general_code(status) for status in former} == former
    assert general_code(418) == "error"


def test_the_pages_take_their_headings_from_the_same_table():
    assert title_of(404) == "Page not found"
    assert title_of(409) == STATUSES[409].title
    assert title_of(418) == "Something went wrong"
    assert set(STATUSES) == set(KIND_STATUS.values())

"""Signed-in callers of the API by role, for the order and refund tests: import the fixtures
a module needs (pytest finds fixtures imported into a test module)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest


@dataclass(frozen=True)
class Who:
    id: str
    headers: dict[str, str]


@pytest.fixture
def person(make_account: Any) -> Any:
    def make(role: str) -> Who:
        account = make_account(role)
        return Who(account["id"], {"Authorization": account["Authorization"]})
    return make


@pytest.fixture
def shopper(person: Any) -> Who:
    return person("customer")


@pytest.fixture
def other_shopper(person: Any) -> Who:
    return person("customer")


@pytest.fixture
def staff(person: Any) -> Who:
    return person("staff")


@pytest.fixture
def admin(person: Any) -> Who:
    return person("admin")

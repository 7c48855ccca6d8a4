"""The whole WSGI app in webtest, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from webtest import TestApp

from minimart import make_app
from minimart.domain.actors import Actor, Role

# signed-in callers by role (a module's own fixture of the same name takes precedence)
from tests.functional.people import admin, other_shopper, person, shopper, staff  # noqa: F401

PASSWORD = "correct horse battery"


@pytest.fixture
def app(app_settings: dict[str, Any]) -> Iterator[Any]:
    wsgi = make_app(app_settings, environ={})
    yield wsgi
    wsgi.registry.container.engine.dispose()


@pytest.fixture
def testapp(app: Any) -> TestApp:
    return TestApp(app)


def _in_transaction(app: Any, work: Callable[[Any], Any]) -> Any:
    """Run work(services) in one committed transaction, as a CLI command would."""
    container = app.registry.container
    return container.in_transaction(work)


@pytest.fixture
def make_account(app: Any) -> Callable[..., dict[str, str]]:
    """Create an account of a role and return its id, email and bearer header."""
    counter = iter(range(1_000_000))

    def make(role: str = "customer", email: str | None = None) -> dict[str, str]:
        email = email or f"{role}{next(counter)}@example.com"
        account = _in_transaction(app, lambda s: s.accounts.create_account(
            email, PASSWORD, role.title(), Role(role), Actor.system()))
        token = app.registry.token_codec.issue(account)
        return {"id": account.id, "email": email, "token": token,
                "Authorization": f"Bearer {token}"}

    return make


@pytest.fixture
def auth(make_account: Callable[..., dict[str, str]]) -> Callable[[str], dict[str, str]]:
    """auth('staff') -> headers for a fresh account of that role."""

    def headers(role: str) -> dict[str, str]:
        return {"Authorization": make_account(role)["Authorization"]}

    return headers


@pytest.fixture
def in_transaction(app: Any) -> Callable[[Callable[[Any], Any]], Any]:
    return lambda work: _in_transaction(app, work)

"""One second-factor code, one sign-in: two sign-ins racing with the same TOTP code or the
same recovery code on PostgreSQL, through the whole app, let exactly one in."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
from webtest import TestApp

from minimart import make_app
from minimart.domain.accounts import TotpEnrolment
from minimart.domain.actors import Actor, Role
from minimart.domain.services.wiring import Services
from tests.conftest import _empty_all_tables
from tests.functional.test_security_api import secret_of
from tests.integration.test_order_concurrency import settings_for

pytestmark = pytest.mark.postgres

EMAIL, PASSWORD = "clerk@example.com", "a clerk's long password"
RACERS = 8


@pytest.fixture
def enrolled(postgres_url: str) -> Iterator[tuple[Any, pyotp.TOTP, list[str]]]:
    """The app, and a clerk enrolled in two-factor sign-in: their TOTP and recovery codes."""
    # the losers' failures count; a limit above them keeps the answers 401, not 429
    app = make_app({**settings_for(postgres_url),
                    "minimart.login.max_failures_per_account": "100"}, environ={})
    _empty_all_tables(app.registry.container.engine)
    def clerk_enrolled(services: Services) -> TotpEnrolment:
        clerk = services.accounts.create_account(EMAIL, PASSWORD, "Clerk", Role.STAFF,
                                                 Actor.system())
        return services.accounts.begin_totp(clerk.id, "", Actor.system())

    enrolment = app.registry.container.in_transaction(clerk_enrolled)
    yield app, pyotp.TOTP(secret_of(enrolment.otpauth_uri)), enrolment.recovery_codes
    app.registry.container.engine.dispose()


def race_to_sign_in(app: Any, code: str) -> list[int]:
    """RACERS sign-ins with the same code, released at once; their statuses."""
    start = threading.Barrier(RACERS)
    statuses: list[int] = []

    def sign_in() -> None:
        client = TestApp(app)
        start.wait()
        statuses.append(client.post_json(
            "/api/v1/auth/token", {"email": EMAIL, "password": PASSWORD, "otp": code},
            expect_errors=True).status_int)

    racers = [threading.Thread(target=sign_in) for _ in range(RACERS)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(timeout=60)
    return sorted(statuses)


def test_one_totp_code_lets_in_exactly_one_of_the_sign_ins_racing_with_it(enrolled):
    app, totp, _ = enrolled

    assert race_to_sign_in(app, totp.now()) == [200] + [401] * (RACERS - 1)


def test_one_recovery_code_lets_in_exactly_one_of_the_sign_ins_racing_with_it(enrolled):
    app, _, codes = enrolled

    assert race_to_sign_in(app, codes[0]) == [200] + [401] * (RACERS - 1)
    assert race_to_sign_in(app, codes[1])[0] == 200  # the others are still good

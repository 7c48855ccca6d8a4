"""OneTimePasswords' contract: the fake and pyotp give a fresh secret each time, an otpauth
URI naming it, and accept a code at its own time only, as a step that grows with time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest

from minimart.adapters.one_time_passwords import PyotpOneTimePasswords
from tests.fakes.accounts import FakeOneTimePasswords

T0 = datetime(2026, 1, 1, 12, 0, 10, tzinfo=UTC)


@pytest.fixture(params=["fake", "pyotp"])
def otp(request: pytest.FixtureRequest) -> tuple[Any, Callable[[str, datetime], str]]:
    """The implementation, and how an authenticator app would make its code."""
    if request.param == "fake":
        fake = FakeOneTimePasswords()
        return fake, fake.code
    return PyotpOneTimePasswords(), lambda secret, at: pyotp.TOTP(secret).at(at)


def test_every_secret_is_new(otp):
    passwords, _ = otp

    assert len({passwords.new_secret() for _ in range(5)}) == 5


def test_the_uri_names_the_secret_and_the_issuer(otp):
    passwords, _ = otp
    secret = passwords.new_secret()

    uri = passwords.uri(secret, "sam", "Minimart")

    assert uri.startswith("otpauth://totp/Minimart:sam?")
    assert f"secret={secret}" in uri
    assert "issuer=Minimart" in uri


def test_the_code_of_the_moment_matches_and_later_codes_match_later_steps(otp):
    passwords, code = otp
    secret = passwords.new_secret()
    later = T0 + timedelta(minutes=5)

    now_step = passwords.matching_step(secret, code(secret, T0), T0)
    later_step = passwords.matching_step(secret, code(secret, later), later)

    assert now_step is not None and later_step is not None
    assert later_step > now_step


def test_an_old_code_another_secrets_code_or_no_code_matches_nothing(otp):
    passwords, code = otp
    secret, other = passwords.new_secret(), passwords.new_secret()

    assert passwords.matching_step(secret, code(secret, T0 - timedelta(minutes=10)), T0) is None
    assert passwords.matching_step(secret, code(other, T0), T0) is None
    assert passwords.matching_step(secret, "", T0) is None
    assert passwords.matching_step(secret, "abcdef", T0) is None

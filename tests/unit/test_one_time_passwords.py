"""The pyotp adapter: a code is six ASCII digits, anything else simply does not match."""

from __future__ import annotations

from datetime import UTC, datetime

import pyotp
import pytest

from minimart.adapters.one_time_passwords import PyotpOneTimePasswords

AT = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


@pytest.fixture
def otp() -> PyotpOneTimePasswords:
    return PyotpOneTimePasswords()


def test_the_current_code_matches_its_step(otp):
    secret = otp.new_secret()
    totp = pyotp.TOTP(secret)

    assert otp.matching_step(secret, totp.at(AT), AT) == totp.timecode(AT)


@pytest.mark.parametrize("code", [
    "\u0661\u0662\u0663\u0664\u0665\u0666",  # Arabic-Indic
    "\uff11\uff12\uff13\uff14\uff15\uff16",  # full-width
    "\u00b9\u00b2\u00b3\u2074\u2075\u2076",  # superscript
    "\u0967\u0968\u0969\u096a\u096b\u096c",  # Devanagari
])
def test_digits_other_than_ascii_match_nothing(otp, code):
    assert otp.matching_step(otp.new_secret(), code, AT) is None


def test_the_ascii_twin_of_a_right_code_in_other_digits_matches_nothing(otp):
    secret = otp.new_secret()
    right = pyotp.TOTP(secret).at(AT)
    full_width = "".join(chr(ord(c) - ord("0") + 0xFF10) for c in right)

    assert otp.matching_step(secret, full_width, AT) is None

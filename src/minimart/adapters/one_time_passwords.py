"""TOTP (RFC 6238) with pyotp: 30-second steps, 6 digits, one step of clock drift allowed."""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp

DIGITS = 6


class PyotpOneTimePasswords:
    def new_secret(self) -> str:
        return pyotp.random_base32()

    def uri(self, secret: str, account_name: str, issuer: str) -> str:
        return pyotp.TOTP(secret).provisioning_uri(name=account_name, issuer_name=issuer)

    def matching_step(self, secret: str, code: str, at: datetime) -> int | None:
        code = code.strip().replace(" ", "")
        # ASCII only: str.isdigit() also takes Arabic-Indic, full-width and superscript
        # digits, which compare_digest refuses with a TypeError (a 500, not a failure)
        if not (code.isascii() and code.isdigit() and len(code) == DIGITS):
            return None
        totp = pyotp.TOTP(secret, digits=DIGITS)
        now = totp.timecode(at)
        for step in (now - 1, now, now + 1):
            if hmac.compare_digest(code, totp.generate_otp(step)):
                return step
        return None

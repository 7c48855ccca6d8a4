"""TOTP (RFC 6238) with pyotp: 30-second steps, 6 digits, one step of clock drift allowed."""

from __future__ import annotations

from datetime import datetime

import pyotp


class PyotpOneTimePasswords:
    def new_secret(self) -> str:
        return pyotp.random_base32()

    def uri(self, secret: str, account_name: str, issuer: str) -> str:
        return pyotp.TOTP(secret).provisioning_uri(name=account_name, issuer_name=issuer)

    def verify(self, secret: str, code: str, at: datetime) -> bool:
        code = code.strip().replace(" ", "")
        return code.isdigit() and pyotp.TOTP(secret).verify(code, for_time=at, valid_window=1)

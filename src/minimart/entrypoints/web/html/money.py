"""Money on web pages: minor units shown as "$12.50", and "12.50" typed into a form read back
as minor units, with integers only (no float ever touches a price)."""

from __future__ import annotations

import re

from minimart.domain.money import Money

# ISO 4217 currencies whose minor unit is not a hundredth (as payment providers count them).
_ZERO_DECIMAL = frozenset({"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg",
                           "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"})
_THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})
_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "inr": "₹", "cad": "CA$",
            "aud": "A$", "nzd": "NZ$"}
_MAX_MAJOR_DIGITS = 13


def minor_digits(currency: str) -> int:
    """How many decimal places the currency's minor unit has."""
    if currency in _ZERO_DECIMAL:
        return 0
    return 3 if currency in _THREE_DECIMAL else 2


def format_amount(amount: int, currency: str, *, grouped: bool = True) -> str:
    """1234 usd -> "1,234.50" style digits, without a symbol; grouped=False for form inputs."""
    digits = minor_digits(currency)
    major, minor = divmod(abs(amount), 10**digits)
    text = f"{major:,}" if grouped else str(major)
    if digits:
        text += "." + str(minor).zfill(digits)
    return ("-" if amount < 0 else "") + text


def format_money(money: Money, *, whole: bool = False) -> str:
    """"$12.50", or "12.50 CHF" for a currency without a symbol here; whole=True drops a
    zero fraction ("$25"), for chart axes."""
    text = format_amount(abs(money.amount), money.currency)
    if whole and re.fullmatch(r"[\d,]+\.0+", text):
        text = text.split(".")[0]
    sign = "-" if money.amount < 0 else ""
    symbol = _SYMBOLS.get(money.currency)
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {money.currency.upper()}"


def input_pattern(currency: str) -> str:
    """The HTML `pattern` of an amount field: the browser's early hint of what parse_amount
    accepts (the server decides)."""
    digits = minor_digits(currency)
    return f"[0-9]{{1,{_MAX_MAJOR_DIGITS}}}" + (rf"(\.[0-9]{{1,{digits}}})?" if digits else "")


def parse_amount(text: str, currency: str) -> int:
    """"12.50" -> 1250 (usd). Raises ValueError with a message to show beside the field;
    the range is the schema's to check."""
    digits = minor_digits(currency)
    fraction = rf"(?:\.([0-9]{{1,{digits}}}))?" if digits else ""
    match = re.fullmatch(rf"([0-9]{{1,{_MAX_MAJOR_DIGITS}}}){fraction}", text.strip())
    if match is None:
        example = format_amount(1250 if digits else 1200, currency, grouped=False)
        raise ValueError(f"Enter an amount such as {example}.")
    minor = (match.group(2) or "") if digits else ""
    return int(match.group(1)) * 10**digits + int(minor.ljust(digits, "0") or 0)

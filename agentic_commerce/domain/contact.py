"""Syntax checks of buyer contact data (no network: e-mail deliverability is not checked)."""

from __future__ import annotations

import phonenumbers
from email_validator import EmailNotValidError, validate_email


def normalized_email(value: str) -> str | None:
    """The normalized address, or None when it is not a valid address."""
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


def possible_phone(value: str, region: str | None) -> bool:
    """True when the number could exist; digits without `+` are read for `region`."""
    try:
        number = phonenumbers.parse(value, None if value.startswith("+") else (region or "US"))
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_possible_number(number))

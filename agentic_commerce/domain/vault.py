"""The sandbox vault's rules (pure): card checks, what a token keeps, when it may be used.

A vault token never keeps a card number or CVC: only brand, last four digits,
expiry, funding type and a keyed fingerprint (HMAC) that recognises the same
card again without revealing it.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime


def luhn_valid(number: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def brand_of(number: str) -> str:
    """The card network from the number's prefix (IIN ranges of the big four)."""
    if number.startswith("4"):
        return "visa"
    two, four = int(number[:2]), int(number[:4])
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return "mastercard"
    if two in (34, 37):
        return "amex"
    if number.startswith(("6011", "65")) or 644 <= int(number[:3]) <= 649:
        return "discover"
    return "unknown"


def expired(exp_month: int, exp_year: int, now: datetime) -> bool:
    """A card is valid through the last day of its expiry month."""
    return (exp_year, exp_month) < (now.year, now.month)


def fingerprint(secret: bytes, number: str) -> str:
    return hmac.new(secret, number.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class VaultToken:
    id: str
    merchant_id: str  # the merchant whose key created it (and who may charge it)
    checkout_session_id: str
    max_amount: int
    currency: str
    expires_at: datetime
    created_at: datetime
    brand: str
    last4: str
    exp_month: int | None
    exp_year: int | None
    funding: str
    card_fingerprint: str
    metadata: dict[str, str]
    consumed_by: str | None = None  # the session that used it
    three_ds: bool = False  # its issuer asks for 3-D Secure (a sandbox test card)


@dataclass(frozen=True, slots=True)
class TokenUse:
    """One attempt to charge a token: for this session, merchant, amount and currency."""

    session_id: str
    merchant_id: str
    amount: int
    currency: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a token cannot pay: `code` is the ACP message code (`invalid` when the
    token is not usable by this session at all, else `payment_declined`)."""

    code: str
    message: str


def refusal(token: VaultToken | None, use: TokenUse) -> Refusal | None:
    """Why `token` cannot pay for `use` (a safe, fixed text), or None when it can."""
    if token is None or token.merchant_id != use.merchant_id:
        return Refusal("invalid", "The payment token is not known to this merchant.")
    if token.checkout_session_id != use.session_id:
        return Refusal("invalid", "The payment token belongs to another checkout session.")
    if token.consumed_by not in (None, use.session_id):
        return Refusal("payment_declined", "The payment token has already been used.")
    if use.at >= token.expires_at:
        return Refusal("payment_declined", "The payment token has expired.")
    if token.currency != use.currency:
        return Refusal("payment_declined", "The payment token is for another currency.")
    if use.amount > token.max_amount:
        return Refusal("payment_declined", "The order total exceeds the payment token's allowance.")
    return None

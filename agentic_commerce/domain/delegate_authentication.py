"""The sandbox 3-D Secure provider's rules (pure): what each test card does, what an
authentication session keeps, and whether a checkout's `authentication_result` is
one this provider produced.

The rules, one row per test card (`RULES`); any other card is `not_supported`:

- at create, a card whose row has `fingerprint` asks for the 3DS Method
  (`action_required` + `fingerprint`); a supported card without it is `pending`;
- at authenticate, a row with `challenge` asks for a challenge (`action_required`
  + `challenge`); the sandbox ACS approves every challenge at once, so the session
  holds its `outcome` from then on (a read shows it with its result); a row
  without `challenge` answers its `outcome` frictionless;
- the outcome's `authentication_result` is made up (ids and a random cryptogram
  drawn at create, so authenticating is deterministic) and kept, so a complete can
  be checked against it.

A session never keeps the card number: brand, last four digits and the vault's
keyed fingerprint (HMAC), which recognises the card of a `vt_` token.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Rule:
    fingerprint: bool  # the 3DS Method runs first
    challenge: bool  # authenticate asks for a challenge
    outcome: str  # the session's final status


NOT_SUPPORTED = Rule(fingerprint=False, challenge=False, outcome="not_supported")
RULES: Mapping[str, Rule] = {
    "4917610000000000": Rule(fingerprint=True, challenge=False, outcome="authenticated"),
    "4000000000003220": Rule(fingerprint=False, challenge=True, outcome="authenticated"),
    "4000000000000002": Rule(fingerprint=False, challenge=False, outcome="not_authenticated"),
}
"""Test card number: what it does (the README's table)."""

VERSION = "2.2.0"
METHOD_URL = "https://acs.sandbox.invalid/3dsmethod"
ACS_URL = "https://acs.sandbox.invalid/challenge"
ID_PREFIX = "auth_"
# The result fields of each final status: trans_status, ECI, trans_status_reason.
RESULTS: Mapping[str, tuple[str, str, str | None]] = {
    "authenticated": ("Y", "05", None),
    "not_authenticated": ("N", "07", "01"),
}
# The checkout `authentication_result.outcome` that each final status stands for.
CHECKOUT_OUTCOMES: Mapping[str, str] = {"authenticated": "authenticated"}


def rule_for(number: str) -> Rule:
    return RULES.get(number, NOT_SUPPORTED)


def asks_for_authentication(number: str) -> bool:
    """Whether the issuer of this card asks for 3-D Secure when it is charged."""
    return rule_for(number) is not NOT_SUPPORTED


@dataclass(frozen=True, slots=True)
class Result:
    """The finalized 3DS data (the spec's `AuthenticationResult`)."""

    trans_status: str
    electronic_commerce_indicator: str
    transaction_id: str  # the directory server's id: the session id's uuid
    three_ds_server_trans_id: str
    three_ds_cryptogram: str | None = None
    trans_status_reason: str | None = None


@dataclass(frozen=True, slots=True)
class AuthenticationSession:
    id: str
    merchant_id: str
    checkout_session_id: str | None
    card_fingerprint: str
    brand: str
    last4: str
    amount: int
    currency: str  # upper case, as the spec's Amount
    created_at: datetime
    rule: Rule
    status: str
    three_ds_server_trans_id: str
    acs_trans_id: str
    cryptogram: str  # drawn at create, so authenticating is deterministic
    challenged: bool = False
    result: Result | None = None


def start(
    rule: Rule,
    *,
    merchant_id: str,
    checkout_session_id: str | None,
    card_fingerprint: str,
    brand: str,
    last4: str,
    amount: int,
    currency: str,
    now: datetime,
) -> AuthenticationSession:
    """A new session: fingerprint first, `pending`, or `not_supported` (see the rules)."""
    if rule is NOT_SUPPORTED:
        status = "not_supported"
    else:
        status = "action_required" if rule.fingerprint else "pending"
    return AuthenticationSession(
        id=f"{ID_PREFIX}{uuid.uuid4()}",
        merchant_id=merchant_id,
        checkout_session_id=checkout_session_id,
        card_fingerprint=card_fingerprint,
        brand=brand,
        last4=last4,
        amount=amount,
        currency=currency,
        created_at=now,
        rule=rule,
        status=status,
        three_ds_server_trans_id=str(uuid.uuid4()),
        acs_trans_id=str(uuid.uuid4()),
        cryptogram=base64.b64encode(secrets.token_bytes(20)).decode(),  # 20 bytes: 28 chars
    )


class NotAuthenticable(Exception):
    """The session is past the step that authenticates (or never had one)."""


def authenticate(session: AuthenticationSession) -> AuthenticationSession:
    """Run the AReq: the session ends in its rule's outcome, through a challenge
    when the rule asks for one."""
    if session.status not in ("action_required", "pending"):
        raise NotAuthenticable(session.status)
    trans_status, eci, reason = RESULTS[session.rule.outcome]
    cryptogram = session.cryptogram if session.rule.outcome in CHECKOUT_OUTCOMES else None
    result = Result(
        trans_status=trans_status,
        electronic_commerce_indicator=eci,
        transaction_id=session.id.removeprefix(ID_PREFIX),
        three_ds_server_trans_id=session.three_ds_server_trans_id,
        three_ds_cryptogram=cryptogram,
        trans_status_reason=reason,
    )
    return replace(
        session,
        status=session.rule.outcome,
        challenged=session.rule.challenge,
        result=result,
    )


def session_id_for(transaction_id: str) -> str:
    """The session a checkout result names by its directory-server transaction id."""
    return f"{ID_PREFIX}{transaction_id}"


@dataclass(frozen=True, slots=True)
class Charge:
    """What a complete pays: the checkout session, the merchant, the card, the amount."""

    merchant_id: str
    checkout_session_id: str
    card_fingerprint: str
    amount: int
    currency: str


def mismatch(
    session: AuthenticationSession | None, claim: Mapping[str, Any], charge: Charge
) -> str | None:
    """Why `claim` (a checkout `authentication_result`) is not this provider's result
    for `charge` (a safe, fixed text), or None when it is."""
    if session is None or session.merchant_id != charge.merchant_id:
        return "The authentication_result names no authentication session of this merchant."
    if session.checkout_session_id not in (None, charge.checkout_session_id):
        return "The authentication_result belongs to another checkout session."
    if session.card_fingerprint != charge.card_fingerprint:
        return "The authentication_result is for another card."
    if (session.amount, session.currency) != (charge.amount, charge.currency.upper()):
        return "The authentication_result is for another amount or currency."
    result = session.result
    if result is None or CHECKOUT_OUTCOMES.get(session.status) != claim.get("outcome"):
        return "The authentication session did not end with the claimed outcome."
    details = claim.get("outcome_details") or {}
    expected = {
        "three_ds_cryptogram": result.three_ds_cryptogram,
        "electronic_commerce_indicator": result.electronic_commerce_indicator,
        "transaction_id": result.transaction_id,
        "version": VERSION,
    }
    if any(details.get(name) != value for name, value in expected.items()):
        return "The authentication_result details differ from the authentication session's."
    return None

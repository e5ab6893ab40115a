"""What the sandbox PSP's endpoints share (the vault, delegate authentication):
card checks whose failures are the closed-list code `invalid_card`, body parsing
that turns card field errors into it, and the gate with its 429 typed as these
APIs' Error has it."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from pydantic import BaseModel

from agentic_commerce.domain import vault
from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.http.context import Caller, Gate, RateLimited
from agentic_commerce.protocol.base import Body, parse

M = TypeVar("M", bound=BaseModel)


def card_error(message: str, param: str) -> RequestRejected:
    return RequestRejected("invalid_card", message, param)


def check_number(number: str, param: str, *, luhn: bool = True) -> None:
    if not number.isdigit() or not 12 <= len(number) <= 19:
        raise card_error("The card number must be 12 to 19 digits.", f"{param}.number")
    if luhn and not vault.luhn_valid(number):
        raise card_error("The card number is not valid.", f"{param}.number")


def check_expiry(exp_month: str, exp_year: str, now: datetime, param: str) -> tuple[int, int]:
    if not (exp_month.isdigit() and 1 <= int(exp_month) <= 12):
        raise card_error("exp_month must be 01 to 12.", f"{param}.exp_month")
    if not (exp_year.isdigit() and len(exp_year) == 4):
        raise card_error("exp_year must be four digits.", f"{param}.exp_year")
    month, year = int(exp_month), int(exp_year)
    if vault.expired(month, year, now):
        raise card_error("The card has expired.", f"{param}.exp_year")
    return month, year


def parse_card_request(model: type[M], sent: Body, card_param: str) -> M:
    try:
        return parse(model, sent)
    except RequestRejected as refused:
        if refused.param is not None and refused.param.startswith(card_param):
            raise card_error(refused.message, refused.param) from None
        raise


async def enter(gate: Gate) -> tuple[Caller, Body]:
    try:
        return await gate.enter()
    except RateLimited as limited:
        limited.type = "rate_limit_exceeded"  # these endpoints' Error has the type
        raise

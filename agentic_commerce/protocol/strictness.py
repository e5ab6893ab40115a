"""How strictly request bodies are read: the base classes of every request model."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

MAX_STRING = 4096  # any string field; the spec's own limits are tighter where it has them
MAX_QUANTITY = 10000


class Strict(BaseModel):
    """Unknown fields refused, no type coercion ("1" is not 1), immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, str_max_length=MAX_STRING)


class Open(BaseModel):
    """Objects the spec says to read leniently: unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True, str_max_length=MAX_STRING)


# Models read the JSON value a body was parsed into (once), not its text, so the two
# types JSON has no literal for keep what reading the text gave them: a decimal
# from a JSON number or string (never a boolean), a date-time from a string only.
def _no_boolean(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("a number is required")
    return value


def _text_only(value: object) -> object:
    if not isinstance(value, str):
        raise ValueError("an RFC 3339 date-time string is required")
    return value


JsonDecimal = Annotated[Decimal, Field(strict=False), BeforeValidator(_no_boolean)]
JsonDateTime = Annotated[datetime, Field(strict=False), BeforeValidator(_text_only)]

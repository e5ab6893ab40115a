"""How strictly request bodies are read: the base classes of every request model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

MAX_STRING = 4096  # any string field; the spec's own limits are tighter where it has them
MAX_QUANTITY = 10000


class Strict(BaseModel):
    """Unknown fields refused, no type coercion ("1" is not 1), immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, str_max_length=MAX_STRING)


class Open(BaseModel):
    """Objects the spec says to read leniently: unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True, str_max_length=MAX_STRING)

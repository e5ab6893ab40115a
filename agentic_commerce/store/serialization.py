"""The domain dataclasses to JSON and back, for stores that keep bytes (pure, no IO).

Encoding is orjson's own dataclass support plus two extensions: a `Decimal` becomes
its exact string (a float would round) and `bytes` become base64. Decoding walks
the target class's type hints, so every type is rebuilt exactly: tuples, nested
dataclasses, optionals, enums, datetimes (with their offset), decimals and bytes.
Free-form `dict[str, Any]` fields (metadata, buyer extras) pass through as JSON.
A field missing from the bytes takes its default, so a field added to a
dataclass (with a default) still reads what was stored before.
"""

from __future__ import annotations

import base64
import dataclasses
import types
from datetime import datetime
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

import orjson

T = TypeVar("T")


class DecodeError(ValueError):
    """Stored bytes do not describe the expected type."""


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"cannot encode {type(value).__name__}")


def encode(value: Any) -> bytes:
    """JSON bytes of a domain value (a dataclass, usually)."""
    return orjson.dumps(value, default=_default)


def decode(cls: type[T], raw: bytes | str) -> T:
    """Rebuild a `cls` from what `encode` produced."""
    try:
        return _build(cls, orjson.loads(raw))  # type: ignore[no-any-return]
    except (KeyError, TypeError, ValueError) as exc:
        raise DecodeError(f"not a {cls.__name__}: {exc}") from exc


@cache
def _fields(cls: type) -> tuple[tuple[str, Any], ...]:
    hints = get_type_hints(cls)
    return tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls))


def _build(hint: Any, data: Any) -> Any:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        if data is None:
            return None
        (inner,) = [arg for arg in get_args(hint) if arg is not type(None)]
        return _build(inner, data)
    if origin is tuple:
        args = get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_build(args[0], item) for item in data)
        return tuple(_build(arg, item) for arg, item in zip(args, data, strict=True))
    if origin is dict or hint is Any:
        return data
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        # A field missing from older bytes takes its default (added fields need one).
        values = {name: _build(sub, data[name]) for name, sub in _fields(hint) if name in data}
        return hint(**values)
    if hint is datetime:
        return datetime.fromisoformat(data)
    if hint is Decimal:
        return Decimal(data)
    if hint is bytes:
        return base64.b64decode(data)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(data)
    return data

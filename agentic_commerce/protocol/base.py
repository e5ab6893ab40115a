"""What every version codec shares: the codec interface, request parsing with
errors as JSONPaths, and small renderers of the canonical model."""

from __future__ import annotations

import abc
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from agentic_commerce.domain import model, validation
from agentic_commerce.domain.commands import (
    CancelSession,
    CompleteSession,
    CreateSession,
    UpdateSession,
)
from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.domain.view import SessionView

M = TypeVar("M", bound=BaseModel)
JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Storefront:
    """Merchant facts that responses show (links, the PSP account for payment handlers)."""

    shop_url: str
    psp_accounts: Callable[[str], str]  # merchant id -> PSP account id
    environment: str = "sandbox"
    three_ds_acquirer: tuple[tuple[str, str], ...] = ()  # acquirer_details for 3-D Secure
    three_ds_directory_server: str = "visa"
    max_line_items: int = 100
    # (channel, display text, privacy policy URL) offered for marketing consent
    marketing_consent_options: tuple[tuple[str, str, str], ...] = ()


MEMBER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def json_path(loc: tuple[int | str, ...]) -> str:
    """A location as an RFC 9535 JSONPath: `$.items[0].id`, and bracket notation
    (`$.metadata['x-y']`) for names that are not plain identifiers."""
    path = "$"
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif MEMBER_NAME.match(part):
            path += f".{part}"
        else:
            escaped = part.replace("\\", "\\\\").replace("'", "\\'")
            path += f"['{escaped}']"
    return path


_CODES = {
    "extra_forbidden": ("unknown_field", "Unknown field."),
    "missing": ("missing_field", "Required field is missing."),
}
# pydantic parses integers of any size; orjson, which renders (and stores) what a request
# carries, refuses those outside 64 bits, so they are a 400 here rather than a 500 later.
_INT64 = range(-(2**63), 2**63)
LONG_NUMBER = re.compile(rb"\d{19}")


def _oversized_int(value: object) -> tuple[int | str, ...] | None:
    """Location of an integer outside the signed 64-bit range, walked without recursion."""
    stack: list[tuple[object, tuple[int | str, ...]]] = [(value, ())]
    while stack:
        node, loc = stack.pop()
        if isinstance(node, dict):
            stack.extend((child, (*loc, key)) for key, child in node.items())
        elif isinstance(node, list | tuple):
            stack.extend((child, (*loc, index)) for index, child in enumerate(node))
        elif isinstance(node, int) and not isinstance(node, bool) and node not in _INT64:
            return loc
    return None


@dataclass(frozen=True, slots=True)
class Body:
    """A request body read once: the bytes as sent (what crosses to another
    instance) and the JSON value they hold. The idempotency fingerprint, the depth
    check and the request model all read `value`."""

    raw: bytes
    value: Any = None
    invalid: bool = False  # not JSON

    @classmethod
    def read(cls, raw: bytes) -> Body:
        if not raw.strip():
            return cls(raw)
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return cls(raw, invalid=True)
        if LONG_NUMBER.search(raw):
            # orjson reads integers beyond 64 bits as floats; only a run of 19+
            # digits can be one, and such (rare) bodies are read exactly instead.
            value = json.loads(raw)
        return cls(raw, value)

    @property
    def empty(self) -> bool:
        return not self.raw.strip()


def parse(model_type: type[M], body: Body) -> M:
    """Validate a body's JSON value; the first problem becomes a 400 with its JSONPath.

    Messages are fixed texts: they never echo submitted values (which may be
    card data or tokens).
    """
    if body.invalid or body.empty:
        raise RequestRejected("invalid_json", "The request body is not valid JSON.")
    if validation.json_depth(body.value) > validation.MAX_JSON_DEPTH:
        raise RequestRejected(
            "nesting_too_deep",
            f"The request body nests deeper than {validation.MAX_JSON_DEPTH} levels.",
        )
    if not isinstance(body.value, dict):
        raise RequestRejected("invalid_json", "The request body must be a JSON object.")
    try:
        parsed = model_type.model_validate(body.value)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        code, message = _CODES.get(error["type"], ("invalid_field", ""))
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and "[" in p))
        text = message or f"Invalid value: {error['msg']}."
        raise RequestRejected(code, text, json_path(loc)) from None
    # Only a run of 19+ digits can be outside 64 bits: most bodies skip the walk.
    oversized = _oversized_int(body.value) if LONG_NUMBER.search(body.raw) else None
    if oversized is not None:
        raise RequestRejected(
            "invalid_field", "Integers must fit in 64 bits (signed).", json_path(oversized)
        )
    return parsed


def attribution_of(sent: BaseModel | None, touchpoint: str) -> model.Attribution | None:
    """A request's `affiliate_attribution` as the order keeps it. The operation says the
    touchpoint (a create's is the first, a complete's the last), whatever it claims."""
    if sent is None:
        return None
    details = sent.model_dump(mode="json", exclude_none=True)
    return model.Attribution(touchpoint, str(details["provider"]), details)


def consents_of(sent: Sequence[BaseModel] | None) -> tuple[model.MarketingConsent, ...] | None:
    """A complete's `marketing_consents` (None when it sent none: the earlier stand)."""
    if sent is None:
        return None
    read = [c.model_dump() for c in sent]
    return tuple(model.MarketingConsent(c["channel"], c["opted_in"]) for c in read)


def timestamp(value: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, milliseconds precision."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def address(value: model.Address, *, with_company: bool) -> JSON:
    body: JSON = {
        "name": value.name,
        "line_one": value.line_one,
        "city": value.city,
        "state": value.state,
        "country": value.country,
        "postal_code": value.postal_code,
    }
    if value.line_two is not None:
        body["line_two"] = value.line_two
    if with_company and value.company is not None:
        body["company"] = value.company
    return body


def to_address(value: Any, path: str) -> model.Address:
    """A request Address model (either version) as the canonical address, checked:
    ISO 3166-1 country; for the US a state code and a ZIP code."""
    address = model.Address(
        name=value.name,
        line_one=value.line_one,
        line_two=value.line_two,
        city=value.city,
        state=value.state,
        country=value.country,
        postal_code=value.postal_code,
        company=getattr(value, "company", None),
    )
    for field, problem in validation.address_problems(address):
        raise RequestRejected("invalid_field", problem, f"{path}.{field}")
    return address


def check_text(value: str | None, path: str) -> str | None:
    """Free text that may be shown as markdown: raw HTML is refused."""
    if value is not None and validation.has_raw_html(value):
        raise RequestRejected("invalid_field", "Raw HTML is not allowed in this field.", path)
    return value


def check_line_count(count: int, limit: int, path: str) -> None:
    if count > limit:
        raise RequestRejected(
            "too_many_line_items", f"At most {limit} line items are accepted.", path
        )


def total(value: model.Total) -> JSON:
    return {"type": value.type, "display_text": value.display_text, "amount": value.amount}


def links(shop_url: str, policy: str) -> list[JSON]:
    """Terms, privacy and returns; `policy` is the link type of the return policy
    (`seller_shop_policies` in 2025-09-29, `return_policy` from 2025-12-12)."""
    return [
        {"type": "terms_of_use", "url": f"{shop_url}/legal/terms"},
        {"type": "privacy_policy", "url": f"{shop_url}/legal/privacy"},
        {"type": policy, "url": f"{shop_url}/legal/returns"},
    ]


class Codec(abc.ABC):
    """One API version: request JSON to commands, canonical state to response JSON."""

    version: str

    def __init__(self, storefront: Storefront) -> None:
        self.storefront = storefront

    @abc.abstractmethod
    def parse_create(self, sent: Body) -> CreateSession: ...

    @abc.abstractmethod
    def parse_update(self, sent: Body) -> UpdateSession: ...

    @abc.abstractmethod
    def parse_complete(self, sent: Body) -> CompleteSession: ...

    @abc.abstractmethod
    def parse_cancel(self, sent: Body) -> CancelSession: ...

    @abc.abstractmethod
    def render_session(self, view: SessionView) -> JSON: ...

    def render_completion(self, view: SessionView) -> JSON:
        """The answer of the complete endpoint (`CheckoutSessionWithOrder`); every
        other endpoint answers `render_session` (`CheckoutSession`). They differ
        only where a version keeps `order` out of `CheckoutSession` (2025-09-29)."""
        return self.render_session(view)

    def render_error(
        self,
        error: RequestRejected,
        supported_versions: list[str] | None = None,
    ) -> JSON:
        body: JSON = {"type": error.type, "code": error.code, "message": error.message}
        if error.param is not None:
            body["param"] = error.param
        if supported_versions is not None:
            body["supported_versions"] = supported_versions
        return body

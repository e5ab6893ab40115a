"""Field checks beyond types (pure): ISO codes, US state and ZIP formats, raw HTML.

Each check returns None when the value is fine, or the problem as a fixed text
(never the submitted value) for the caller to report with the field's path.
"""

from __future__ import annotations

import re
from functools import lru_cache

import pycountry

from agentic_commerce.domain.model import Address

US_ZIP = re.compile(r"^\d{5}(-\d{4})?$")
# An HTML tag, comment or declaration: "<" then a letter, "/", "!" or "?".
RAW_HTML = re.compile(r"<[A-Za-z/!?]")
MAX_JSON_DEPTH = 32


@lru_cache(maxsize=512)
def is_country(code: str) -> bool:
    return len(code) == 2 and pycountry.countries.get(alpha_2=code.upper()) is not None


@lru_cache(maxsize=512)
def is_currency(code: str) -> bool:
    return len(code) == 3 and pycountry.currencies.get(alpha_3=code.upper()) is not None


@lru_cache(maxsize=128)
def is_us_state(code: str) -> bool:
    return pycountry.subdivisions.get(code=f"US-{code.upper()}") is not None  # type: ignore[no-untyped-call]


def address_problems(address: Address) -> list[tuple[str, str]]:
    """(field, problem) pairs of an address."""
    problems: list[tuple[str, str]] = []
    if not is_country(address.country):
        problems.append(("country", "country must be an ISO 3166-1 alpha-2 code."))
    elif address.country.upper() == "US":
        if not is_us_state(address.state):
            problems.append(("state", "state must be a US state or territory code."))
        if not US_ZIP.match(address.postal_code):
            problems.append(("postal_code", "postal_code must be a US ZIP code (12345[-6789])."))
    return problems


def has_raw_html(text: str) -> bool:
    """Markdown must not carry raw HTML (a MUST of 2026-04-17 for inbound markdown)."""
    return RAW_HTML.search(text) is not None


def json_depth(value: object) -> int:
    """Nesting depth of parsed JSON, computed without recursion."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in node)
    return deepest

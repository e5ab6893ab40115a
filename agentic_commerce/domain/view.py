"""What every response about a session is rendered from."""

from __future__ import annotations

from dataclasses import dataclass, field

from agentic_commerce.domain.model import Session
from agentic_commerce.domain.pricing import Quote


@dataclass(frozen=True, slots=True)
class SessionView:
    """A committed session with its quote.

    `rendered` caches response bodies per API version: a view never changes, so
    repeated reads of an unchanged session render it once.
    """

    session: Session
    quote: Quote
    rendered: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)

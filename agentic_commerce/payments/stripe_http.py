"""Stripe's HTTPX client, with a client span per HTTP attempt (the stripe client's
network retries are attempts of their own, so a trace shows each one)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import stripe

from agentic_commerce import tracing

# The path segments that name resources; any other is an id or a token: `{id}`.
RESOURCES = frozenset(
    {"v1", "payment_intents", "confirm", "cancel", "capture", "shared_payment", "granted_tokens"}
)


def template(url: str) -> str:
    """The URL's path with every segment that is not a known resource name as
    `{id}`: a granted-token lookup has the token in its path."""
    segments = urlsplit(url).path.split("/")
    return "/".join(s if not s or s in RESOURCES else "{id}" for s in segments)


class TracedHTTPXClient(stripe.HTTPXClient):
    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        verb = method.upper()
        with tracing.http_client(verb, url, template(url)) as span:
            content, status, answered = await super().request_async(method, url, headers, post_data)
            tracing.http_status(span, status)
            return content, status, answered

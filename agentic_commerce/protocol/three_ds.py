"""The `authentication_metadata` of a session waiting for 3-D Secure, shared by the
versions that have it.

2025-12-12, 2026-01-16 and 2026-01-30 require `channel.browser` (the cardholder's
browser: Accept header, IP address, JavaScript, language, User-Agent); 2026-04-17
dropped `channel`. The server never sees the buyer's browser, and what an agent
sends (its own headers, or `risk_signals` at complete) is not kept with the
session, so `browser_channel` states conservative values instead: any media type
(`*/*`), the unspecified address `0.0.0.0`, JavaScript not enabled (so the
screen fields that JavaScript would make required are left out), the session's
`locale` as the language when it is a BCP 47 tag (else `en-US`), and the
User-Agent `unknown`. The agent runs the challenge in its own browser and
replaces them with what that browser reports.
"""

from __future__ import annotations

import re

from agentic_commerce.domain import model
from agentic_commerce.protocol.base import JSON, Storefront

DEFAULT_LANGUAGE = "en-US"
# A BCP 47 language tag (the shape, not the registry), within the schema's 35 characters.
LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")


def browser_channel(session: model.Session) -> JSON:
    locale = session.locale
    language = locale if locale and len(locale) <= 35 and LANGUAGE_TAG.match(locale) else None
    return {
        "type": "browser",
        "browser": {
            "accept_header": "*/*",
            "ip_address": "0.0.0.0",
            "javascript_enabled": False,
            "language": language or DEFAULT_LANGUAGE,
            "user_agent": "unknown",
        },
    }


def authentication_metadata(
    storefront: Storefront, session: model.Session, *, channel: bool
) -> JSON:
    """Acquirer and directory server from the storefront; `channel` for the versions
    that require it."""
    body: JSON = {"channel": browser_channel(session)} if channel else {}
    body["acquirer_details"] = dict(storefront.three_ds_acquirer)
    body["directory_server"] = storefront.three_ds_directory_server
    body["flow_preference"] = {"type": "challenge", "challenge": {"type": "preferred"}}
    return body

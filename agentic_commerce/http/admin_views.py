"""How the admin JSON shows the server's things: outbox events, live actors, what
only the merchant sees of a session, and any JSON value with its secret-looking
fields redacted."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from agentic_commerce.actors.system import ActorInfo
from agentic_commerce.domain.model import Session
from agentic_commerce.protocol.base import timestamp
from agentic_commerce.store.base import OutboxEvent

REDACTED = "[redacted]"
# Field names that may carry a secret, wherever they appear (agents' metadata included).
SECRET_FIELD = re.compile(
    r"token|secret|passw|credential|authorization|signature|cvc|cvv|pending_payment|(^|_)key$",
    re.IGNORECASE,
)


def event_json(event: OutboxEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "session_id": event.session_id,
        "order_id": event.order_id,
        "api_version": event.api_version,
        "state": event.state,
        "attempts": event.attempts,
        "created_at": timestamp(event.created_at),
        "next_attempt_at": timestamp(event.next_attempt_at) if event.next_attempt_at else None,
        "last_error": event.last_error,
    }


def redact(value: Any) -> Any:
    """A copy of a JSON value with every secret-looking field's value replaced."""
    if isinstance(value, dict):
        return {
            k: REDACTED if SECRET_FIELD.search(k) and v is not None else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def actor_json(info: ActorInfo) -> dict[str, Any]:
    return dataclasses.asdict(info)


def internals(session: Session) -> dict[str, Any]:
    """What the session's ACP JSON does not show: whose it is, its version, its store
    version, whether a payment is pending (never the payment)."""
    return {
        "merchant_id": session.merchant_id,
        "api_version": session.api_version,
        "store_version": session.version,
        "pending_payment": REDACTED if session.pending_payment else None,
    }

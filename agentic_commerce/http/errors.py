"""Flat ACP errors `{type, code, message, param}` for every refusal and failure."""

from __future__ import annotations

from typing import Any

from quart import Response

from agentic_commerce.actors.runtime import (
    ActorCrashed,
    ActorError,
    ActorRef,
    AskTimeout,
    MailboxFull,
)
from agentic_commerce.domain.errors import RequestRejected, unavailable
from agentic_commerce.http.responses import json_response
from agentic_commerce.protocol.base import Codec
from agentic_commerce.protocol.versions import VersionRejected, Versions


def from_actor_error(error: ActorError) -> RequestRejected:
    """Actor failures in protocol terms, all retryable (503 with `Retry-After`): an
    overloaded or slow actor, or one that crashed or was killed while handling the
    request. A restarted actor reloads the committed state, so a retry with the
    same Idempotency-Key replays what was committed or runs the request once."""
    code = {MailboxFull: "overloaded", AskTimeout: "timeout", ActorCrashed: "interrupted"}.get(
        type(error), "unavailable"
    )
    return unavailable(code, "The service is busy; retry shortly.")


async def ask_actor(ref: ActorRef, message: Any, timeout: float) -> Any:
    """An actor's reply to a request; a refusal it answered is raised, and its own
    failures become retryable refusals (`from_actor_error`)."""
    try:
        reply = await ref.ask(message, timeout)
    except ActorError as exc:
        raise from_actor_error(exc) from None
    if isinstance(reply, RequestRejected):
        raise reply
    return reply


def error_response(error: RequestRejected, codec: Codec, versions: Versions) -> Response:
    supported = versions.supported if isinstance(error, VersionRejected) else None
    headers: dict[str, str] = {}
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="acp"'
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    return json_response(codec.render_error(error, supported), error.status, headers)


def absent_in_version(api: str) -> RequestRejected:
    """A route the caller's API-Version does not define: 404, as for any unknown route
    (the API came in a later version)."""
    return RequestRejected("not_found", f"This API-Version has no {api}.", None, status=404)

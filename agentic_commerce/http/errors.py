"""Flat ACP errors `{type, code, message, param}` for every refusal and failure."""

from __future__ import annotations

from quart import Response

from agentic_commerce.actors.runtime import ActorCrashed, ActorError, AskTimeout, MailboxFull
from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.http.codecs.base import Codec
from agentic_commerce.http.responses import json_response
from agentic_commerce.http.versions import VersionRejected, Versions

RETRY_AFTER_SECONDS = 1


def from_actor_error(error: ActorError) -> RequestRejected:
    """Actor failures in protocol terms: overload is retryable (503), a crash is not."""
    if isinstance(error, ActorCrashed):
        return RequestRejected(
            "internal_error",
            "The request failed; it was not applied twice.",
            None,
            status=500,
            type="processing_error",
        )
    code = {MailboxFull: "overloaded", AskTimeout: "timeout"}.get(type(error), "unavailable")
    return RequestRejected(
        code,
        "The service is busy; retry shortly.",
        None,
        status=503,
        type="service_unavailable",
        retry_after=RETRY_AFTER_SECONDS,
    )


def error_response(error: RequestRejected, codec: Codec, versions: Versions) -> Response:
    supported = versions.supported if isinstance(error, VersionRejected) else None
    headers: dict[str, str] = {}
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="acp"'
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    return json_response(codec.render_error(error, supported), error.status, headers)

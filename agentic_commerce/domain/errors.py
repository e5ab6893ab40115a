"""Protocol-level refusals raised by pure logic; the HTTP layer renders them as flat errors."""

from __future__ import annotations


class RequestRejected(Exception):
    """The request cannot be applied; nothing was changed.

    `param` is an RFC 9535 JSONPath into the request body. `status` is the HTTP
    status the front end should answer with; `retry_after` makes it a
    `Retry-After` header.
    """

    def __init__(
        self,
        code: str,
        message: str,
        param: str | None = None,
        *,
        status: int = 400,
        type: str = "invalid_request",
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param
        self.status = status
        self.type = type
        self.retry_after = retry_after  # seconds, for retryable refusals


def unavailable(code: str, message: str) -> RequestRejected:
    """A retryable refusal: 503 `service_unavailable` with a one-second `Retry-After`
    (the request changed nothing; its retry may)."""
    return RequestRejected(
        code, message, None, status=503, type="service_unavailable", retry_after=1
    )

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

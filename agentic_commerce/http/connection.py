"""quart-trio's HTTP connection without the cancellation that kept sockets open.

quart-trio 0.12 (`quart_trio/asgi.py`, `TrioASGIHTTPConnection.handle_messages`)
cancels the request's nursery as soon as it receives `http.disconnect`. hypercorn's
trio worker sends that message from inside the app's last `send` call
(`protocol/h11.py` `_maybe_recycle` -> `_close_stream`), before it closes the
socket or restarts the keep-alive timer, still on the app's task. The
cancellation lands in that work: `Connection: close` and HTTP/1.0 sockets stayed
open, idle connections never timed out and a graceful stop waited for them.

Here nothing cancels the handler. Body problems reach it the way quart reports a
too-large body, as the error its next read of the body raises: 408 when the body
is not complete within `BODY_TIMEOUT` of the request head, `ClientDisconnected`
when the client left mid-body. hypercorn then closes the connection itself, since
the body was never complete.
"""

from __future__ import annotations

import math

import trio
from hypercorn.typing import ASGIReceiveCallable
from quart.wrappers.request import Body, Request
from quart_trio.asgi import TrioASGIHTTPConnection
from werkzeug.exceptions import ClientDisconnected, HTTPException, RequestTimeout


class HTTPConnection(TrioASGIHTTPConnection):
    """Set as the app's `asgi_http_class`."""

    async def handle_messages(  # type: ignore[override]  # quart-trio's signature
        self, nursery: trio.Nursery, request: Request, receive: ASGIReceiveCallable
    ) -> None:
        """Feed the body under its deadline, then drain until hypercorn closes the stream."""
        timeout = math.inf if request.body_timeout is None else request.body_timeout
        try:
            with trio.fail_after(timeout):
                complete = await _receive_body(request.body, receive)
        except trio.TooSlowError:
            _fail(request.body, RequestTimeout())
        else:
            if not complete:
                _fail(request.body, ClientDisconnected())
                return
        # Bytes after the body, or after a refusal (413, 408) that never read it, are
        # dropped here: an unread ASGI queue would stall hypercorn's reader.
        while (await receive())["type"] != "http.disconnect":
            pass


async def _receive_body(body: Body, receive: ASGIReceiveCallable) -> bool:
    """True once the body is complete, False if the client left first."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return False
        if message["type"] == "http.request":
            body.append(message.get("body", b""))
            if not message.get("more_body", False):
                body.set_complete()
                return True


def _fail(body: Body, error: HTTPException) -> None:
    """Make the handler's reads of the body raise `error`, unless one is already due (413)."""
    if body._must_raise is None:
        body._must_raise = error
    body.set_complete()

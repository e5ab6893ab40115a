"""The ASGI connection class on its own, against a scripted server (virtual time).

The script sends `http.disconnect` from inside the app's last `send` and then does
more work on the app's task, as hypercorn's trio worker does; quart-trio's own
class cancelled that work (see agentic_commerce/http/connection.py).
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing
from quart import request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException, RequestTimeout

from agentic_commerce.http.connection import HTTPConnection

BODY_TIMEOUT = 10
LOOSE = 100  # a virtual-time bound for each exchange: a hang fails, never blocks


class Server:
    """Plays hypercorn: feeds messages, records the answer, closes the stream on the
    app's task after the last body part (where the disconnect message is sent)."""

    def __init__(self) -> None:
        self.inbox, self._app_inbox = trio.open_memory_channel[dict[str, Any]](10)
        self.sent: list[dict[str, Any]] = []
        self.closed_after_answer = False

    async def receive(self) -> dict[str, Any]:
        return await self._app_inbox.receive()

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            await self.inbox.send({"type": "http.disconnect"})
            # hypercorn closes the socket or restarts the keep-alive timer here
            await trio.lowlevel.checkpoint()
            await trio.lowlevel.checkpoint()
            self.closed_after_answer = True

    @property
    def status(self) -> int | None:
        return next((m["status"] for m in self.sent if m["type"] == "http.response.start"), None)

    def body(self, data: bytes, more: bool = False) -> None:
        self.inbox.send_nowait({"type": "http.request", "body": data, "more_body": more})


def scope(method: str = "POST", length: int = 4) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"spec_version": "2.1", "version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test"), (b"content-length", str(length).encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
        "state": {},
        "extensions": {},
    }


@pytest.fixture
def server() -> Server:
    return Server()


@pytest.fixture
def seen() -> list[str]:
    """What the handler saw: the body, an error reading it, or that it finished."""
    return []


@pytest.fixture
def app(seen: list[str]) -> QuartTrio:
    app = QuartTrio(__name__)
    app.config["BODY_TIMEOUT"] = BODY_TIMEOUT
    app.asgi_http_class = HTTPConnection

    @app.post("/")
    async def read() -> str:
        try:
            body = await request.body  # any read of the body, not only get_data
        except HTTPException as error:
            seen.append(type(error).__name__)
            raise
        await trio.sleep(1)  # work that a client leaving must not cut short
        seen.append(body.decode())
        return "ok"

    return app


async def serve(app: QuartTrio, server: Server, method: str = "POST") -> None:
    with trio.fail_after(LOOSE):
        await app(scope(method), server.receive, server.send)  # type: ignore[arg-type]


async def test_the_work_after_the_last_send_is_not_cancelled(
    app: QuartTrio, server: Server, autojump_clock: trio.testing.MockClock
) -> None:
    server.body(b"1234")
    await serve(app, server)
    assert server.status == 200
    assert server.closed_after_answer


async def test_a_body_not_complete_in_time_is_answered_408(
    app: QuartTrio, server: Server, seen: list[str], autojump_clock: trio.testing.MockClock
) -> None:
    server.body(b"12", more=True)
    started = trio.current_time()
    await serve(app, server)
    assert seen == ["RequestTimeout"]
    assert server.status == 408
    assert trio.current_time() - started == pytest.approx(BODY_TIMEOUT)
    assert server.closed_after_answer


async def test_a_client_leaving_mid_body_ends_the_read_not_the_handler(
    app: QuartTrio, server: Server, seen: list[str], autojump_clock: trio.testing.MockClock
) -> None:
    server.body(b"12", more=True)
    server.inbox.send_nowait({"type": "http.disconnect"})
    await serve(app, server)
    assert seen == ["ClientDisconnected"]


async def test_a_client_leaving_after_the_body_lets_the_handler_finish(
    app: QuartTrio, server: Server, seen: list[str], autojump_clock: trio.testing.MockClock
) -> None:
    server.body(b"1234")
    server.inbox.send_nowait({"type": "http.disconnect"})
    await serve(app, server)
    assert seen == ["1234"]


async def test_parts_after_a_timed_out_body_are_read_until_the_stream_closes(
    app: QuartTrio, server: Server, autojump_clock: trio.testing.MockClock
) -> None:
    connection = HTTPConnection(app, scope(length=100))  # type: ignore[arg-type]
    request = connection._create_request_from_scope(server.send)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(connection.handle_messages, nursery, request, server.receive)
        await trio.sleep(BODY_TIMEOUT + 1)
        for _ in range(30):  # three times hypercorn's queue: unread, it would stall the reader
            with trio.fail_after(LOOSE):
                await server.inbox.send({"type": "http.request", "body": b"1", "more_body": True})
        await server.inbox.send({"type": "http.disconnect"})
    with pytest.raises(RequestTimeout), trio.fail_after(LOOSE):
        await request.body

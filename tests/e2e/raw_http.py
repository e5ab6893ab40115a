"""HTTP/1.1 over a raw socket: what a client library hides (pipelining, half-sent
bodies, whether the server closed the connection) is what these tests look at."""

from __future__ import annotations

import socket
import time
import uuid
from dataclasses import dataclass

import orjson

from tests.real_requests import HEADERS

CREATE_BODY = orjson.dumps(
    {"currency": "usd", "line_items": [{"id": "item_123"}], "capabilities": {}}
)


def get(path: str = "/health", version: str = "1.1", headers: str = "") -> bytes:
    host = "Host: test\r\n" if version == "1.1" else ""
    return f"GET {path} HTTP/{version}\r\n{host}{headers}\r\n".encode()


def post_head(length: int, path: str = "/checkout_sessions") -> bytes:
    """A create request's head, announcing a body of `length` bytes."""
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: test",
        *(f"{name}: {value}" for name, value in HEADERS.items()),
        "Content-Type: application/json",
        f"Idempotency-Key: {uuid.uuid4()}",
        f"Content-Length: {length}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def post(body: bytes = CREATE_BODY, path: str = "/checkout_sessions") -> bytes:
    return post_head(len(body), path) + body


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, object]:
        value = orjson.loads(self.body)
        assert isinstance(value, dict)
        return value


class Conn:
    """One client connection; every wait is bounded by a deadline."""

    def __init__(self, base_url: str) -> None:
        host, port = base_url.removeprefix("http://").rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.buffer = b""
        self.eof = False

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        self.sock.close()

    def poll(self, deadline: float) -> bool:
        """Read what arrives before `deadline`; False when nothing more can come."""
        remaining = deadline - time.monotonic()
        if remaining <= 0 or self.eof:
            return False
        self.sock.settimeout(min(remaining, 1.0))
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            return True
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buffer += chunk
        return True

    def response(self, timeout: float = 10.0) -> RawResponse:
        """The next response (bodies framed by Content-Length, as the app's are)."""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buffer:
            if not self.poll(deadline):
                raise AssertionError(f"no complete response head; got {self.buffer[:200]!r}")
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        assert "transfer-encoding" not in headers, headers
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            self.buffer = head + b"\r\n\r\n" + rest
            if not self.poll(deadline):
                raise AssertionError(f"response body cut short: {rest[:200]!r}")
            rest = self.buffer.partition(b"\r\n\r\n")[2]
        self.buffer = rest[length:]
        return RawResponse(int(status_line.split()[1]), headers, rest[:length])

    def closed_within(self, timeout: float) -> bool:
        """Whether the server closed the connection before `timeout` seconds passed."""
        deadline = time.monotonic() + timeout
        while self.poll(deadline):
            pass
        return self.eof

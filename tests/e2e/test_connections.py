"""Connections end when HTTP says they should, on the real server over raw sockets.

quart-trio's connection class used to cancel hypercorn's end-of-request work,
so idle keep-alive connections never timed out, `Connection: close` and
HTTP/1.0 were ignored and a graceful stop waited for idle clients
(agentic_commerce/http/connection.py). Its replacement also reads request
bodies, so pipelining, large bodies and clients leaving are checked too.
Every wait below polls for a condition under a generous deadline.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import suppress

import orjson
import pytest

from agentic_commerce.http.app import MAX_BODY_BYTES
from tests.e2e.raw_http import CREATE_BODY, Conn, RawResponse, get, post, post_head
from tests.e2e.server import Server, running_server

pytestmark = pytest.mark.slow

KEEP_ALIVE = 1.0
BODY_TIMEOUT = 2.0
MARGIN = 10.0  # on top of a configured timeout, for a loaded machine


@pytest.fixture(scope="module")
def patient() -> Iterator[Server]:
    """Idle connections live a minute here: any close seen is the tested behaviour's."""
    with running_server(
        KEEP_ALIVE_SECONDS="60", BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT), LOG_LEVEL="warning"
    ) as server:
        yield server


@pytest.fixture(scope="module")
def impatient() -> Iterator[Server]:
    with running_server(KEEP_ALIVE_SECONDS=str(KEEP_ALIVE), LOG_LEVEL="warning") as server:
        yield server


Connect = Callable[[Server], Conn]


@pytest.fixture
def connect() -> Iterator[Connect]:
    """Open raw connections that are all closed after the test."""
    opened: list[Conn] = []

    def open_one(server: Server) -> Conn:
        opened.append(Conn(server.base_url))
        return opened[-1]

    yield open_one
    for conn in opened:
        conn.close()


def exchange(conn: Conn, request: bytes) -> RawResponse:
    conn.send(request)
    return conn.response()


# keep-alive timeout ------------------------------------------------------------
@pytest.mark.parametrize("then", [b"", b"GET /hea"], ids=["silent", "half_a_request_line"])
def test_an_idle_connection_closes_after_the_keep_alive_timeout(
    impatient: Server, then: bytes, connect: Connect
) -> None:
    conn = connect(impatient)
    assert exchange(conn, get()).status == 200
    assert exchange(conn, get()).status == 200  # kept alive between requests
    conn.send(then)
    assert conn.closed_within(KEEP_ALIVE + MARGIN), "the idle connection is still open"


def test_many_idle_connections_all_close(impatient: Server, connect: Connect) -> None:
    conns = []
    for _ in range(200):  # each used at once: a connection never used times out as well
        conns.append(connect(impatient))
        assert exchange(conns[-1], get()).status == 200
    deadline = time.monotonic() + KEEP_ALIVE + MARGIN
    still_open = [c for c in conns if not c.closed_within(deadline - time.monotonic())]
    assert not still_open, f"{len(still_open)} of {len(conns)} idle connections still open"


# Connection: close and HTTP/1.0 ------------------------------------------------
@pytest.mark.parametrize(
    "request_bytes",
    [get(headers="Connection: close\r\n"), get(version="1.0")],
    ids=["connection_close", "http_1_0"],
)
def test_the_connection_closes_after_the_answer(
    patient: Server, request_bytes: bytes, connect: Connect
) -> None:
    conn = connect(patient)
    assert exchange(conn, request_bytes).status == 200
    assert conn.closed_within(MARGIN), "the server kept the connection open"


# pipelining ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("requests", "statuses"),
    [
        ([get(), post()], [200, 201]),
        ([post(), get()], [201, 200]),
        ([get(), post(), post(), get(), get()], [200, 201, 201, 200, 200]),
    ],
    ids=["get_post", "post_get", "mixed_five"],
)
def test_pipelined_requests_are_all_answered_in_order(
    patient: Server, requests: list[bytes], statuses: list[int], connect: Connect
) -> None:
    conn = connect(patient)
    conn.send(b"".join(requests))
    assert [conn.response().status for _ in requests] == statuses
    assert exchange(conn, get()).status == 200  # and the connection is still usable


# request bodies ------------------------------------------------------------------
@pytest.mark.parametrize("trickle_every", [None, 0.5], ids=["stalled", "trickled"])
def test_a_body_that_does_not_arrive_in_time_gets_408_and_the_connection_closes(
    patient: Server, trickle_every: float | None, connect: Connect
) -> None:
    conn = connect(patient)
    started = time.monotonic()
    conn.send(post_head(1000) + b'{"currency":')
    deadline = started + BODY_TIMEOUT + MARGIN
    while b"\r\n\r\n" not in conn.buffer and not conn.eof and time.monotonic() < deadline:
        if trickle_every is not None:
            with suppress(OSError):
                conn.send(b" ")
        conn.poll(time.monotonic() + (trickle_every or 1.0))
    answered = time.monotonic() - started
    response = conn.response(timeout=MARGIN)
    assert response.status == 408
    error = response.json()
    assert (error["type"], error["code"]) == ("invalid_request", "request_timeout")
    assert isinstance(error["message"], str)
    assert answered >= BODY_TIMEOUT
    assert conn.closed_within(MARGIN), "the connection stayed open after the 408"


def test_a_body_of_exactly_one_mebibyte_streams_in(patient: Server, connect: Connect) -> None:
    body = CREATE_BODY + b" " * (MAX_BODY_BYTES - len(CREATE_BODY))  # JSON allows the padding
    conn = connect(patient)
    created = exchange(conn, post(body))
    assert created.status == 201, created.body[:300]
    assert created.json()["status"] in {"not_ready_for_payment", "ready_for_payment"}
    assert exchange(conn, get()).status == 200


def test_a_body_announced_above_one_mebibyte_is_refused_with_413(
    patient: Server, connect: Connect
) -> None:
    conn = connect(patient)
    refused = exchange(conn, post_head(MAX_BODY_BYTES + 1))
    assert refused.status == 413
    assert refused.json()["code"] == "request_too_large"
    assert conn.closed_within(MARGIN), "the body was never sent: the connection must close"


def test_a_chunked_body_growing_above_one_mebibyte_is_refused_with_413(
    patient: Server, connect: Connect
) -> None:
    head = post_head(0).replace(b"Content-Length: 0", b"Transfer-Encoding: chunked")
    conn = connect(patient)
    conn.send(head)
    chunk = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
    deadline = time.monotonic() + MARGIN
    sent = 0
    while b"\r\n\r\n" not in conn.buffer and not conn.eof and time.monotonic() < deadline:
        if sent <= 2 * MAX_BODY_BYTES:
            with suppress(OSError):
                conn.send(chunk)
                sent += 65536
        conn.poll(time.monotonic() + 0.05)
    assert conn.response().status == 413
    assert sent > MAX_BODY_BYTES


# client disconnects and graceful stop ---------------------------------------------
def test_clients_leaving_mid_request_leave_the_server_well(connect: Connect) -> None:
    with running_server(LOG_LEVEL="info", BODY_TIMEOUT_SECONDS="30") as server:
        for request in (
            post_head(len(CREATE_BODY)) + CREATE_BODY[:10],  # gone mid-body
            post(),  # gone before the answer
            get("/ready"),
        ):
            conn = connect(server)
            conn.send(request)
            conn.close()
        conn = connect(server)
        assert exchange(conn, get()).status == 200
        assert exchange(conn, post()).status == 201
        assert server.stop() == 0
        entries = [orjson.loads(line) for line in server.stderr.splitlines()]
    assert not [e for e in entries if e.get("level") in {"error", "critical"}], entries
    assert entries[-1]["event"] == "server_stopped"


def test_a_graceful_stop_does_not_wait_for_idle_clients(connect: Connect) -> None:
    with running_server(
        KEEP_ALIVE_SECONDS="60", SHUTDOWN_TIMEOUT_SECONDS="30", LOG_LEVEL="warning"
    ) as server:
        conn = connect(server)
        assert exchange(conn, get()).status == 200
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=MARGIN)
        except subprocess.TimeoutExpired:
            pytest.fail("SIGTERM: the server waited for an idle keep-alive client")
        assert conn.closed_within(MARGIN)
        assert server.stop() == 0

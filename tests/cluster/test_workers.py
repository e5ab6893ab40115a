"""`agentic-commerce-server --workers 2`: two worker processes on one public port
(SO_REUSEPORT), each with an internal port of its own, sharing Redis."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests import crashes
from tests.cluster.cluster import (
    ADMIN_KEY,
    CREATE,
    HEADERS,
    UPDATE_ADDRESS,
    Reply,
    check,
    pay,
    post_headers,
    session_actor_ids,
    wait_healthy,
)
from tests.e2e.server import free_port
from tests.redis_server import RedisServer
from tests.waiting import poll

pytestmark = pytest.mark.slow
WORKERS = 2
CREATES = 20  # over fresh connections: all on one worker would be a 1 in 2**19 chance
STOP_TIMEOUT = 30.0
WORKER_COMMAND = (sys.executable, "-m", "agentic_commerce")
LEASE_TTL = 5.0  # the default: a restarted worker is back well before its old leases lapse


def free_port_run(count: int) -> int:
    """The first of `count` consecutive free loopback ports."""
    while True:
        base = free_port()
        try:
            for port in range(base, base + count):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base


def children(pid: int) -> list[int]:
    """The live child processes of `pid`, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = stat.rpartition(")")[2].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Whether `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def fresh(method: str, url: str, body: Any = None) -> Reply:
    """One request on a connection of its own (so the kernel picks a worker)."""
    headers = {**HEADERS, **(post_headers() if method == "POST" else {})}
    response = httpx.request(method, url, json=body, headers=headers, timeout=30)
    reply = Reply(response.status_code, response.json(), 0.0)
    check(reply)
    return reply


def worker_index(pid: int) -> int:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return int(next(v for v in environ if v.startswith(b"WORKER_INDEX=")).split(b"=")[1])


def gauge(url: str, name: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    (value,) = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]
    return value


def session_counts(url: str) -> dict[str, float]:
    """acs_checkout_sessions_total by event, as one worker's scrape shows it."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {
        sample.labels["event"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "acs_checkout_sessions"
        for sample in family.samples
        if sample.name == "acs_checkout_sessions_total"
    }


@dataclass
class Workers:
    process: subprocess.Popen[bytes]
    public: str
    internal: list[str]  # worker i's own address (internal port base + i)
    tmp: Path
    log: Path

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def workers(own_redis: RedisServer) -> Iterator[Workers]:
    port, base = free_port(), free_port_run(WORKERS)
    tmp = Path(tempfile.mkdtemp(prefix="acs-workers-"))
    env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "REDIS_URL": own_redis.url,
        "ADMIN_API_KEY": ADMIN_KEY,
        "RATE_LIMIT_PER_MINUTE": "1000000",
        "LOG_LEVEL": "warning",
        "LEASE_TTL_SECONDS": str(LEASE_TTL),
        "TMPDIR": str(tmp / "t"),  # where the parent makes its metrics directory
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    (tmp / "t").mkdir()
    log = tmp / "stderr.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [*WORKER_COMMAND, "--workers", str(WORKERS), "--internal-port-base", str(base)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    running = Workers(
        process,
        f"http://127.0.0.1:{port}",
        [f"http://127.0.0.1:{base + i}" for i in range(WORKERS)],
        tmp,
        log,
    )
    try:
        for url in (running.public, *running.internal):
            wait_healthy(url, process)
        yield running
    except BaseException:
        print(running.stderr(), file=sys.stderr)
        raise
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            for pid in children(process.pid):
                os.kill(pid, signal.SIGKILL)
            process.kill()
            process.wait()
        log_text = running.stderr()
        shutil.rmtree(tmp, ignore_errors=True)
        crashes.check_process_log(log_text, "workers")


def test_two_workers_serve_one_port_consistently_and_stop_together(workers: Workers) -> None:
    pids = poll(lambda: sorted(children(workers.process.pid)) or None, 10)
    assert len(pids) == WORKERS, pids

    # Many creates over fresh connections: both workers take some.
    created = [fresh("POST", f"{workers.public}/checkout_sessions", CREATE) for _ in range(CREATES)]
    assert {reply.status for reply in created} == {201}
    ids = {reply.body["id"] for reply in created}
    owned = [session_actor_ids(url) & ids for url in workers.internal]
    assert all(owned), owned  # every worker runs some of the sessions
    assert set.union(*owned) == ids and not set.intersection(*owned)  # each runs in one

    # One session, changed through each worker in turn: the one that does not run
    # its actor forwards to the one that does.
    session_id = next(iter(owned[0]))
    updates = 0
    for quantity in range(2, 6):
        url = workers.internal[quantity % WORKERS]
        body = {"line_items": [{"id": "item_123", "quantity": quantity}]}
        reply = fresh("POST", f"{url}/checkout_sessions/{session_id}", body)
        assert reply.status == 200, reply.body
        assert reply.body["line_items"][0]["quantity"] == quantity
        updates += 1
    reply = fresh("POST", f"{workers.public}/checkout_sessions/{session_id}", UPDATE_ADDRESS)
    assert reply.status == 200, reply.body
    assert reply.body["status"] == "ready_for_payment"
    updates += 1
    for _ in range(10):  # reads through either worker agree
        seen = fresh("GET", f"{workers.public}/checkout_sessions/{session_id}")
        assert seen.body["line_items"][0]["quantity"] == 5
        assert seen.body["fulfillment_details"]["address"]["postal_code"] == "94105"
    completed = fresh(
        "POST", f"{workers.internal[1]}/checkout_sessions/{session_id}/complete", pay()
    )
    assert completed.status == 200, completed.body
    order_id = completed.body["order"]["id"]
    for url in workers.internal:
        assert fresh("GET", f"{url}/checkout_sessions/{session_id}").body["order"]["id"] == order_id
    assert session_actor_ids(workers.internal[1]) & {session_id} == set()  # still on worker 0

    # Any worker's scrape adds up every worker's counts.
    for url in (*workers.internal, workers.public):
        counts = session_counts(url)
        assert counts["created"] == CREATES, counts
        assert counts["updated"] == updates, counts
        assert counts["completed"] == 1, counts

    # SIGTERM to the parent stops every worker, and the parent exits 0.
    workers.process.send_signal(signal.SIGTERM)
    assert workers.process.wait(timeout=STOP_TIMEOUT) == 0, workers.stderr()
    assert [pid for pid in pids if alive(pid)] == []
    for url in (workers.public, *workers.internal):
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/health", timeout=2)
    assert list((workers.tmp / "t").iterdir()) == []  # no metrics directory left behind


def test_a_killed_worker_is_restarted_and_its_sessions_served(workers: Workers) -> None:
    pids = poll(lambda: sorted(children(workers.process.pid)) or None, 10)
    by_index = {worker_index(pid): pid for pid in pids}
    first, second = workers.internal
    ids = []
    for url in (first, first, first, second):
        created = fresh("POST", f"{url}/checkout_sessions", {**CREATE, **UPDATE_ADDRESS})
        assert created.status == 201, created.body
        ids.append(created.body["id"])
    assert session_actor_ids(first) >= set(ids[:3])
    # Scrapes add up the live session actors of both workers (sampled every 2 s).
    poll(lambda: gauge(workers.public, "acs_session_actors") == len(ids), 10, interval=0.25)

    os.kill(by_index[0], signal.SIGKILL)
    restarted = poll(lambda: (set(children(workers.process.pid)) - set(pids)) or None, 20)
    wait_healthy(first, workers.process)
    assert by_index[1] in children(workers.process.pid)  # the other worker kept running
    assert len(restarted) == 1
    assert "worker 0 exited with -9; restarting" in workers.stderr()

    # The dead worker's 3 live actors no longer count; nothing has moved yet, so
    # the scrape must come down to worker 1's one session.
    poll(lambda: gauge(workers.public, "acs_session_actors") == 1, 10, interval=0.25)

    # The new worker 0 has the old one's address: the old one's leases, still
    # running out, must not bounce requests between them.
    for url, session_id in zip((first, second, workers.public), ids[:3], strict=True):
        reply = fresh("POST", f"{url}/checkout_sessions/{session_id}/complete", pay())
        assert reply.status == 200, reply.body
        assert reply.body["status"] == "completed"
    for url in workers.internal:  # every session reads the same through either worker
        for session_id in ids:
            seen = fresh("GET", f"{url}/checkout_sessions/{session_id}")
            assert seen.status == 200, seen.body
            assert seen.body["status"] == (
                "completed" if session_id in ids[:3] else "ready_for_payment"
            )


def test_several_workers_need_redis() -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    result = subprocess.run(
        [*WORKER_COMMAND, "--workers", "2"],
        env=env,
        capture_output=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert b"--workers above 1 needs Redis" in result.stderr
    assert result.stdout == b""

"""Benchmark the Agentic Commerce Server against a bare quart-trio baseline.

Starts the real server on the memory store, on a fresh redis-server, or both side
by side (temporary catalog with ample stock), and bench/bare_app.py, on free
loopback ports. Times sequential checkout flows with a lean keep-alive client,
loads every target with wrk (2 threads, 50 connections) in alternating rounds,
counts Redis commands per request, optionally compares `--workers N` with one
process, and measures RSS growth per 10,000 creates. Prints a Markdown report with
PASS/FAIL per goal and writes bench/results/latest.json. Exit status: 0 all goals
pass, 1 a goal fails, 2 the benchmark itself failed.

Usage: .venv/bin/python bench/run.py [--store memory|redis|both] [--rounds 3]
           [--duration 5] [--warmup 2] [--flows 200] [--workers N] [--rss-creates 10000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import redis

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
LUA_SCRIPT = BENCH / "acp.lua"
BARE_APP = BENCH / "bare_app.py"
RESULTS_FILE = BENCH / "results" / "latest.json"
TEMPLATE_CATALOG = ROOT / "agentic_commerce" / "config" / "catalog.json"

STORES = ("memory", "redis")
# "update": each request to one of UPDATE_SESSIONS sessions, about one per connection, as
# agents updating their own checkouts; "update 1 session": all 50 connections on one
# session, whose actor takes one write at a time (it measures that session's commit latency).
ENDPOINTS = ("GET", "update", "update 1 session", "create")
UPDATE_SESSIONS = 50
BARE = "bare"
WORKERS = "workers"
CEILING = {"GET": "GET", "update": "POST", "update 1 session": "POST", "create": "POST"}

API_KEY = "api_key_demo_123"
API_VERSION = "2026-04-17"
STOCK = 10**9
WRK_THREADS = 2
WRK_CONNECTIONS = 50
START_TIMEOUT_S = 15.0
MAX_DURATION_S = 120
MAX_FLOWS = 5000
MAX_ROUNDS = 10
MAX_WORKERS = 8
MAX_RSS_CREATES = 100_000
BUSY_WARNING = 0.10
IDLE_SAMPLE_S = 2.0  # covers one pass of the server's 2 s gauge sampler
RSS_WARMUP_CREATES = 200
RSS_CLIENTS = 4
RSS_ACTOR_IDLE_SECONDS = 5
RSS_PER = 10_000  # the RSS goals are per this many creates
PASSIVATION_TIMEOUT_S = 30.0
LIVE_ACTORS = "acs_session_actors"  # agentic_commerce/metrics.py: live session actors
SCRIPT_COMMANDS = frozenset({"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"})
BENCH_COMMANDS = frozenset({"info", "echo", "monitor"})  # the bench's own, never counted

ADDRESS = {
    "name": "Jane Doe",
    "line_one": "1 Market St",
    "city": "San Francisco",
    "state": "CA",
    "country": "US",
    "postal_code": "94105",
}
CREATE_BODY: dict[str, Any] = {
    "currency": "usd",
    "line_items": [{"id": "item_123"}],
    "capabilities": {},
}
ADDRESS_BODY = {"fulfillment_details": {"name": ADDRESS["name"], "address": ADDRESS}}
UPDATE_BODIES = ({"order_notes": "bench note A"}, {"order_notes": "bench note B"})
COMPLETE_BODY = {
    "payment_data": {
        "handler_id": "card_tokenized",
        "instrument": {"type": "card", "credential": {"type": "spt", "token": "tok_test_ok"}},
    }
}
FLOW_STEPS = ("create", "address", "shipping", "complete")

Process = subprocess.Popen[bytes]
T = TypeVar("T")
Counts = dict[str, float]  # Redis command name -> calls
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Target:
    """One wrk target: a server (bare, memory, redis, workers) and an endpoint."""

    server: str
    endpoint: str  # bare: GET | POST; servers: GET | update | create
    url: str
    bodies: tuple[dict[str, Any], ...]  # POST bodies, cycled (none: GET)
    paths: tuple[str, ...] = ()  # paths cycled instead of the URL's (none: the URL's)

    @property
    def name(self) -> str:
        return f"{self.server} {self.endpoint}"


@dataclass(frozen=True)
class WrkResult:
    """One wrk run, latencies in milliseconds."""

    name: str
    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    first_non_2xx_status: int
    socket_errors: dict[str, int]
    other_cpu: float | None  # CPU share other processes used during the run


@dataclass(frozen=True)
class Goal:
    name: str
    target: str
    measured: str
    passed: bool


# CPU accounting -----------------------------------------------------------------


@dataclass(frozen=True)
class CpuSample:
    wall: float
    busy: float  # CPU seconds the whole machine was busy since boot
    own: float  # CPU seconds this run and its children used


class CpuWatch:
    """How much CPU other processes took during a measurement (Linux /proc)."""

    def __init__(self) -> None:
        self.pids: list[int] = []  # running children; reaped ones count via os.times()

    def sample(self) -> CpuSample | None:
        try:
            stat = Path("/proc/stat").read_text().split("\n", 1)[0].split()
            ticks = [int(x) for x in stat[1:9]]  # user .. steal; guest is inside user
        except (OSError, ValueError, IndexError):
            return None
        running = sum(_process_cpu(pid) for top in self.pids for pid in _tree(top))
        t = os.times()
        busy = (sum(ticks) - ticks[3] - ticks[4]) / CLOCK_TICKS  # minus idle, iowait
        own = t.user + t.system + t.children_user + t.children_system + running
        return CpuSample(time.monotonic(), busy, own)

    def others(self, before: CpuSample | None, after: CpuSample | None) -> float | None:
        """Share of all CPUs that other processes used between two samples."""
        if before is None or after is None or after.wall <= before.wall:
            return None
        span = (after.wall - before.wall) * (os.cpu_count() or 1)
        return max(0.0, (after.busy - before.busy - (after.own - before.own)) / span)

    def during(self, fn: Callable[[], T]) -> tuple[T, float | None]:
        """Run `fn`; return its result and the CPU share other processes took meanwhile."""
        before = self.sample()
        result = fn()
        return result, self.others(before, self.sample())


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (the workers of `--workers` are grandchildren)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return [pid]
    return [pid, *(p for child in children for p in _tree(int(child)))]


def _process_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # gone meanwhile
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


@dataclass(frozen=True)
class Harness:
    """What one phase owns: children stopped at exit, a temporary directory, a CPU watch."""

    stack: ExitStack
    workdir: Path
    watch: CpuWatch


# lean HTTP client ---------------------------------------------------------------

STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class Lean:
    """One keep-alive HTTP/1.1 connection on http.client: a fraction of a millisecond
    of client time per request (httpx costs ~1 ms), so flow timings show the server."""

    def __init__(self, base: str, timeout: float = 5.0) -> None:
        parts = urlsplit(base)
        self.conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)

    def request(
        self, method: str, path: str, body: bytes | None = None, sent: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """Status and body; reconnects once if the server closed the idle connection
        (POSTs carry an Idempotency-Key, so a resend is safe)."""
        try:
            return self._once(method, path, body, sent or {})
        except STALE:
            self.conn.close()
            return self._once(method, path, body, sent or {})

    def _once(
        self, method: str, path: str, body: bytes | None, sent: dict[str, str]
    ) -> tuple[int, bytes]:
        self.conn.request(method, path, body=body, headers=sent)
        response = self.conn.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self.conn.close()


def http_status(url: str) -> int | None:
    """Status of one GET on a fresh connection; None when it cannot connect."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=1.0)
    try:
        conn.request("GET", parts.path or "/")
        response = conn.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def http_text(url: str) -> str:
    """Body of a GET that must answer 200."""
    parts = urlsplit(url)
    client = Lean(f"{parts.scheme}://{parts.netloc}")
    try:
        status, body = client.request("GET", parts.path)
    finally:
        client.close()
    if status != 200:
        raise RuntimeError(f"GET {url}: {status}")
    return body.decode()


# processes --------------------------------------------------------------------


def ensure_wrk() -> str:
    """Path of wrk, installing the Debian package (sudo when not root) if missing."""
    found = shutil.which("wrk")
    if found:
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    print("wrk not found: installing it with apt-get", file=sys.stderr)
    apt = [*sudo, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]
    install = [*apt, "install", "-y", "wrk"]
    if subprocess.run(install, check=False).returncode != 0:
        subprocess.run([*apt, "update"], check=True)
        subprocess.run(install, check=True)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is still missing after apt-get install")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_port_block(count: int) -> int:
    """First of `count` consecutive free loopback ports (the workers' internal ports)."""
    for _ in range(100):
        base = free_port()
        if base + count > 65535:
            continue
        try:
            with ExitStack() as stack:
                for port in range(base, base + count):
                    sock = stack.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise RuntimeError(f"no {count} consecutive free ports")


def stop_process(process: Process) -> None:
    """SIGTERM the child's own process group, SIGKILL it after 5 s."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def spawn(harness: Harness, cmd: list[str], env: dict[str, str], log: Path) -> Process:
    """Start a child in its own session, stopped when the harness closes."""
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    harness.stack.callback(stop_process, process)
    harness.watch.pids.append(process.pid)
    return process


def wait_ok(url: str, process: Process, log: Path) -> None:
    """Poll `url` every 5 ms until it answers 200."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: process exited: {log.read_text()[-2000:]}")
        if http_status(url) == 200:
            return
        time.sleep(0.005)
    raise TimeoutError(f"{url} not healthy within {START_TIMEOUT_S} s")


def start_redis(harness: Harness, name: str) -> int:
    """Start a fresh redis-server (AOF on, fsync every second) in the work dir; its port."""
    port = free_port()
    directory = harness.workdir / f"redis-{name}"
    directory.mkdir()
    log = harness.workdir / f"redis-{name}.log"
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory)]
    process = spawn(harness, [*cmd, "--appendonly", "yes", "--save", ""], {}, log)
    deadline = time.monotonic() + START_TIMEOUT_S
    with redis.Redis(port=port, socket_timeout=1.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited: {log.read_text()[-2000:]}")
            try:
                if client.ping():
                    return port
            except redis.ConnectionError:
                pass
            time.sleep(0.005)
    raise TimeoutError(f"redis-server not answering within {START_TIMEOUT_S} s")


@dataclass(frozen=True)
class Server:
    """One server under test."""

    name: str  # memory | redis | workers
    base: str
    pid: int
    startup_s: float  # process start to the first 200 /health (every worker's)
    redis_port: int | None


def server_env(harness: Harness, port: int, redis_port: int | None) -> dict[str, str]:
    return {
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "CATALOG_FILE": str(write_catalog(harness.workdir)),
        "LOG_LEVEL": "warning",
        # keep the rate limiter on the request path but out of the way of the load
        "RATE_LIMIT_PER_MINUTE": str(10**9),
        "RATE_LIMIT_BURST": str(10**9),
        # run the server from this checkout, whatever the venv has installed
        "PYTHONPATH": str(ROOT),
        **({"REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"} if redis_port else {}),
    }


def start_server(
    harness: Harness, name: str, store: str, workers: int = 1, env: dict[str, str] | None = None
) -> Server:
    """Start the real server (on a fresh redis-server for `store` redis; `workers` > 1:
    that many processes on one port) and wait until every process answers /health."""
    redis_port = start_redis(harness, name) if store == "redis" else None
    port = free_port()
    cmd = [sys.executable, "-m", "agentic_commerce"]
    health = [f"http://127.0.0.1:{port}/health"]
    if workers > 1:
        internal = free_port_block(workers)
        cmd += ["--workers", str(workers), "--internal-port-base", str(internal)]
        health += [f"http://127.0.0.1:{internal + i}/health" for i in range(workers)]
    log = harness.workdir / f"server-{name}.log"
    full_env = {**server_env(harness, port, redis_port), **(env or {})}
    started = time.perf_counter()
    process = spawn(harness, cmd, full_env, log)
    for url in health:
        wait_ok(url, process, log)
    startup = time.perf_counter() - started
    print(f"{name} server healthy after {startup * 1000:.0f} ms", file=sys.stderr)
    return Server(name, f"http://127.0.0.1:{port}", process.pid, startup, redis_port)


def start_bare(harness: Harness, body: bytes) -> str:
    """Start bench/bare_app.py serving `body`; return the URL of its route."""
    body_file = harness.workdir / "session.json"
    body_file.write_bytes(body)
    port = free_port()
    cmd = [sys.executable, str(BARE_APP), "--port", str(port), "--body", str(body_file)]
    log = harness.workdir / "bare.log"
    url = f"http://127.0.0.1:{port}/session"
    wait_ok(url, spawn(harness, cmd, {}, log), log)
    return url


def write_catalog(workdir: Path) -> Path:
    """The shipped catalog with every product's stock raised to STOCK."""
    catalog = json.loads(TEMPLATE_CATALOG.read_text())
    for product in catalog["products"]:
        product["stock"] = STOCK
    path = workdir / "catalog.json"
    path.write_text(json.dumps(catalog))
    return path


# ACP over the lean client -----------------------------------------------------------


def headers(post: bool) -> dict[str, str]:
    sent = {"Authorization": f"Bearer {API_KEY}", "API-Version": API_VERSION}
    if post:
        sent["Content-Type"] = "application/json"
        sent["Idempotency-Key"] = f"bench-{uuid.uuid4().hex}"
    return sent


def post(client: Lean, path: str, body: dict[str, Any], expect: int) -> dict[str, Any]:
    """POST a JSON body, check the status, return the decoded session."""
    status, raw = client.request("POST", path, json.dumps(body).encode(), headers(post=True))
    if status != expect:
        raise RuntimeError(f"POST {path}: {status} {raw[:500]!r}")
    decoded: dict[str, Any] = json.loads(raw)
    return decoded


def ready_session(client: Lean) -> str:
    """Create a session and give it an address: ready_for_payment."""
    session_id = str(post(client, "/checkout_sessions", CREATE_BODY, 201)["id"])
    body = post(client, f"/checkout_sessions/{session_id}", ADDRESS_BODY, 200)
    if body["status"] != "ready_for_payment":
        raise RuntimeError(f"session {session_id} not ready: {body['messages']}")
    return session_id


def session_bytes(client: Lean, session_id: str) -> bytes:
    status, body = client.request("GET", f"/checkout_sessions/{session_id}", None, headers(False))
    if status != 200:
        raise RuntimeError(f"GET session {session_id}: {status}")
    return body


def shipping_choice(session: dict[str, Any]) -> dict[str, Any]:
    """Select the first shipping option that is not already selected."""
    current = {o["option_id"] for o in session["selected_fulfillment_options"]}
    option = next(o for o in session["fulfillment_options"] if o["id"] not in current)
    items = [line["id"] for line in session["line_items"]]
    selected = {"type": option["type"], "option_id": option["id"], "item_ids": items}
    return {"selected_fulfillment_options": [selected]}


def timed(fn: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    result = fn()
    return result, (time.perf_counter() - started) * 1000


def one_flow(client: Lean) -> dict[str, float]:
    """create, address, shipping, complete; milliseconds per step and in total."""
    created, t_create = timed(lambda: post(client, "/checkout_sessions", CREATE_BODY, 201))
    path = f"/checkout_sessions/{created['id']}"
    addressed, t_address = timed(lambda: post(client, path, ADDRESS_BODY, 200))
    _, t_ship = timed(lambda: post(client, path, shipping_choice(addressed), 200))
    done, t_complete = timed(lambda: post(client, f"{path}/complete", COMPLETE_BODY, 200))
    if done["status"] != "completed":
        raise RuntimeError(f"flow ended in {done['status']}: {done.get('messages')}")
    steps = (t_create, t_address, t_ship, t_complete)
    return {**dict(zip(FLOW_STEPS, steps, strict=True)), "total": sum(steps)}


FlowStats = dict[str, dict[str, float]]  # step -> p50_ms, p90_ms


def run_flows(bases: dict[str, str], count: int, warmup: int) -> dict[str, FlowStats]:
    """p50/p90 (ms) per step and per flow over `count` sequential flows per store,
    one keep-alive connection per store, the stores taking turns flow by flow."""
    clients = {store: Lean(base) for store, base in bases.items()}
    samples = {store: {n: list[float]() for n in (*FLOW_STEPS, "total")} for store in bases}
    try:
        for i in range(warmup + count):
            for store, client in clients.items():
                flow = one_flow(client)
                for name, ms in flow.items():
                    if i >= warmup:
                        samples[store][name].append(ms)
    finally:
        for client in clients.values():
            client.close()
    return {
        store: {n: {"p50_ms": percentile(v, 50), "p90_ms": percentile(v, 90)} for n, v in s.items()}
        for store, s in samples.items()
    }


def bare_floor(url: str, count: int, warmup: int) -> dict[str, float]:
    """p50/p90 (ms) of one POST to the bare route over the lean client: the least a
    flow step can cost (hypercorn, quart and the client, no ACP work)."""
    parts = urlsplit(url)
    client = Lean(f"{parts.scheme}://{parts.netloc}")
    body = json.dumps(UPDATE_BODIES[0]).encode()
    samples = []
    try:
        for i in range(warmup + count):
            started = time.perf_counter()
            status, _ = client.request("POST", parts.path, body, headers(post=True))
            if status != 200:
                raise RuntimeError(f"bare POST: {status}")
            if i >= warmup:
                samples.append((time.perf_counter() - started) * 1000)
    finally:
        client.close()
    return {"p50_ms": percentile(samples, 50), "p90_ms": percentile(samples, 90)}


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


# Redis command counts --------------------------------------------------------------


def scaled(counts: Counts, factor: float) -> Counts:
    return {name: n * factor for name, n in counts.items()}


def minus(counts: Counts, other: Counts) -> Counts:
    """`counts - other` per command (below zero by idle noise: clip only the totals)."""
    return {name: n - other.get(name, 0.0) for name, n in counts.items()}


def clipped(counts: Counts) -> Counts:
    return {name: max(0.0, n) for name, n in counts.items()}


def add_into(total: Counts, counts: Counts) -> None:
    for name, n in counts.items():
        total[name] = total.get(name, 0.0) + n


class Monitor:
    """MONITOR on a raw socket, read by a thread: Redis commands by source and name,
    keyed "top <cmd>" for commands a client sent (a script call once) and "lua <cmd>"
    for commands run inside scripts. Costs Redis time: warm-ups and idle samples only."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30.0)
        self.marker = f"bench-monitor-{uuid.uuid4().hex}".encode()
        self.counts: Counter[str] = Counter()
        self.seen_marker = False
        self.sock.sendall(b"MONITOR\r\n")
        rest = self._first_line()
        self.thread = threading.Thread(target=self._read, args=(rest,), daemon=True)
        self.thread.start()
        self.started = time.monotonic()

    def _first_line(self) -> bytes:
        """Read MONITOR's +OK; return what followed it."""
        buffer = b""
        while b"\r\n" not in buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("redis closed the MONITOR connection")
            buffer += chunk
        line, rest = buffer.split(b"\r\n", 1)
        if line != b"+OK":
            raise RuntimeError(f"MONITOR refused: {line!r}")
        return rest

    def _read(self, buffer: bytes) -> None:
        while True:
            *lines, buffer = buffer.split(b"\r\n")
            for line in lines:
                if self.marker in line:
                    self.seen_marker = True
                    return
                self._tally(line)
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                return
            buffer += chunk

    def _tally(self, line: bytes) -> None:
        head, found, rest = line.partition(b'] "')
        if not found:
            return
        name = rest.split(b'"', 1)[0].decode(errors="replace").lower()
        if name not in BENCH_COMMANDS:
            self.counts[f"{'lua' if head.endswith(b' lua') else 'top'} {name}"] += 1

    def stop(self, client: redis.Redis) -> tuple[Counts, float]:
        """End the window (a marker through `client`); the counts and its seconds."""
        seconds = time.monotonic() - self.started
        client.echo(self.marker)
        self.thread.join(timeout=60.0)
        self.sock.close()
        if not self.seen_marker:
            raise RuntimeError("MONITOR reader never saw its end marker")
        return {name: float(n) for name, n in self.counts.items()}, seconds


class RedisProbe:
    """Counts the commands one redis-server runs: commandstats deltas around measured
    runs, MONITOR windows around warm-ups, and its idle rate of both to subtract. The
    idle rate is the latest sample's: it grows with live sessions (lease renewals)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.client = redis.Redis(port=port, socket_timeout=30.0)
        self.idle: Counts = {}  # commands/s at the last idle sample, by commandstats
        self.idle_watched: Counts = {}  # the same by MONITOR ("top cmd" / "lua cmd")
        self.idle_history: list[float] = []  # total commands/s of every sample

    def stats(self) -> Counts:
        """Calls per command since start (inside scripts too), the bench's own left out."""
        info: dict[str, Any] = self.client.info("commandstats")
        return {
            key.removeprefix("cmdstat_"): float(value["calls"])
            for key, value in info.items()
            if key.removeprefix("cmdstat_") not in BENCH_COMMANDS
        }

    def counted(self, fn: Callable[[], T]) -> tuple[T, Counts]:
        """Run `fn`; its commandstats delta minus the idle rate over its time."""
        before, started = self.stats(), time.monotonic()
        result = fn()
        delta = minus(self.stats(), before)
        return result, minus(delta, scaled(self.idle, time.monotonic() - started))

    def watched(self, fn: Callable[[], T]) -> tuple[T, Counts]:
        """Run `fn` under MONITOR; commands by source minus the idle rate."""
        monitor = Monitor(self.port)
        result = fn()
        counts, seconds = monitor.stop(self.client)
        return result, minus(counts, scaled(self.idle_watched, seconds))


def by_rate(counts: Counts) -> Counts:
    """Commands sorted by count, rounded, the negligible left out."""
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    return {name: round(n, 2) for name, n in ranked if n >= 0.01}


def sample_idle(probes: Iterable[RedisProbe], seconds: float) -> None:
    """Rate what the idle servers send to Redis (renewals, sweeps, the 2 s gauge
    sampler), commandstats and MONITOR at once."""
    probes = list(probes)
    if not probes:
        return
    before = [(p.stats(), time.monotonic()) for p in probes]
    monitors = [Monitor(p.port) for p in probes]
    time.sleep(seconds)
    for probe, monitor, (stats, started) in zip(probes, monitors, before, strict=True):
        watched, watched_s = monitor.stop(probe.client)
        probe.idle_watched = scaled(watched, 1 / watched_s)
        probe.idle = scaled(minus(probe.stats(), stats), 1 / (time.monotonic() - started))
        probe.idle_history.append(round(sum(probe.idle.values()), 1))


@dataclass
class Tally:
    """Redis commands a target's requests caused, summed over rounds, idle work out."""

    requests: int = 0  # measured wrk requests, counted with commandstats
    commands: Counts = field(default_factory=dict)
    watched_requests: int = 0  # warm-up requests, counted with MONITOR
    watched: Counts = field(default_factory=dict)

    def per_request(self) -> dict[str, Any]:
        """The report's figures: all commands, script calls, top-level and in-script."""
        n, w = max(self.requests, 1), max(self.watched_requests, 1)
        commands, watched = clipped(self.commands), clipped(self.watched)
        top = {k.removeprefix("top "): v / w for k, v in watched.items() if k[:4] == "top "}
        inner = sum(v for k, v in watched.items() if k[:4] == "lua ") / w
        scripts = sum(v for k, v in commands.items() if k in SCRIPT_COMMANDS)
        return {
            "all": sum(commands.values()) / n,
            "scripts": scripts / n,
            "top_level": sum(top.values()) if self.watched_requests else None,
            "in_scripts": inner if self.watched_requests else None,
            "top_level_by_command": by_rate(top),
            "all_by_command": by_rate(scaled(commands, 1 / n)),
            "requests": self.requests,
            "watched_requests": self.watched_requests,
        }


# wrk ----------------------------------------------------------------------------


def wrk(binary: str, target: Target, seconds: int) -> dict[str, Any]:
    """One wrk run through bench/acp.lua; the JSON its done() prints."""
    prefix = f"bench-{uuid.uuid4().hex[:12]}"
    cmd = [
        binary,
        f"-t{WRK_THREADS}",
        f"-c{WRK_CONNECTIONS}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "-s",
        str(LUA_SCRIPT),
        target.url,
        "--",
        prefix,
        API_KEY,
        API_VERSION,
        *([f"PATHS={','.join(target.paths)}"] if target.paths else []),
        *(json.dumps(b) for b in target.bodies),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30, check=False)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr}{done.stdout}")
    parsed: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
    return parsed


def failures(raw: dict[str, Any]) -> int:
    """Non-2xx responses and socket errors of one wrk run ("status" repeats non-2xx)."""
    errors = raw["errors"]
    return int(raw["non_2xx"]) + sum(int(n) for k, n in errors.items() if k != "status")


@dataclass
class Bench:
    """The load phase's state: options, wrk, Redis probes, tallies, warm-up failures."""

    args: argparse.Namespace
    wrk: str
    watch: CpuWatch
    probes: dict[str, RedisProbe]  # server name -> its redis-server's probe
    tallies: dict[str, Tally] = field(default_factory=dict)  # target name -> commands
    warmup_failures: int = 0


def warm_up(bench: Bench, target: Target) -> None:
    """A short wrk run; on a Redis-backed server under MONITOR (top-level commands)."""
    run = partial(wrk, bench.wrk, target, bench.args.warmup)
    probe = bench.probes.get(target.server)
    if probe is None:
        raw = run()
    else:
        raw, watched = probe.watched(run)
        tally = bench.tallies.setdefault(target.name, Tally())
        tally.watched_requests += int(raw["requests"])
        add_into(tally.watched, watched)
    bench.warmup_failures += failures(raw)


def measure(bench: Bench, target: Target) -> WrkResult:
    """Warm up, then one measured wrk run (commandstats deltas around it on Redis)."""
    if bench.args.warmup > 0:
        warm_up(bench, target)
    run = partial(wrk, bench.wrk, target, bench.args.duration)
    probe = bench.probes.get(target.server)
    if probe is None:
        raw, others = bench.watch.during(run)
    else:
        (raw, others), counts = probe.counted(lambda: bench.watch.during(run))
        tally = bench.tallies.setdefault(target.name, Tally())
        tally.requests += int(raw["requests"])
        add_into(tally.commands, counts)
    lat = raw["latency_us"]
    duration_s = raw["duration_us"] / 1e6
    print(f"  {target.name}: {raw['requests'] / duration_s:,.0f} req/s", file=sys.stderr)
    return WrkResult(
        name=target.name,
        requests=raw["requests"],
        duration_s=round(duration_s, 3),
        rps=round(raw["requests"] / duration_s, 1),
        p50_ms=lat["p50"] / 1000,
        p90_ms=lat["p90"] / 1000,
        p99_ms=lat["p99"] / 1000,
        max_ms=lat["max"] / 1000,
        non_2xx=raw["non_2xx"],
        first_non_2xx_status=raw["first_non_2xx_status"],
        socket_errors=raw["errors"],
        other_cpu=others,
    )


def run_rounds(bench: Bench, targets: list[Target]) -> list[dict[str, WrkResult]]:
    """`--rounds` rounds, each running every target once in turn (drift hits all alike);
    each round starts with an idle sample of every redis-server."""
    rounds = []
    for i in range(bench.args.rounds):
        print(f"round {i + 1}/{bench.args.rounds}", file=sys.stderr)
        sample_idle(bench.probes.values(), IDLE_SAMPLE_S)
        rounds.append({t.name: measure(bench, t) for t in targets})
    return rounds


@dataclass(frozen=True)
class LoadSummary:
    """One target over all rounds: median req/s, latencies of the median round."""

    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    rounds_rps: list[float]
    max_other_cpu: float | None


def summarise(rounds: list[dict[str, WrkResult]]) -> dict[str, LoadSummary]:
    summaries = {}
    for name in rounds[0]:
        runs = [each[name] for each in rounds]
        middle = sorted(runs, key=lambda r: r.rps)[(len(runs) - 1) // 2]
        shares = [r.other_cpu for r in runs if r.other_cpu is not None]
        summaries[name] = LoadSummary(
            name=name,
            rps=round(statistics.median(r.rps for r in runs), 1),
            p50_ms=middle.p50_ms,
            p99_ms=middle.p99_ms,
            rounds_rps=[r.rps for r in runs],
            max_other_cpu=max(shares) if shares else None,
        )
    return summaries


# RSS per creates --------------------------------------------------------------------


@dataclass(frozen=True)
class RssResult:
    """Resident memory of a fresh server around `creates` creates (KiB, MiB)."""

    store: str
    creates: int
    failed: int  # creates not answered 201
    first_failed_status: int
    creates_per_s: float
    before_kib: int
    after_kib: int
    passivated_kib: int
    live_actors_left: float
    passivation_wait_s: float
    growth_mib: float  # after passivation minus before
    kib_per_session: float


def vm_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def live_actors(base: str) -> float:
    """The server's live session actors gauge (sampled by the server every 2 s)."""
    for line in http_text(f"{base}/metrics").splitlines():
        if line.startswith(f"{LIVE_ACTORS} "):
            return float(line.split()[1])
    raise RuntimeError(f"{LIVE_ACTORS} missing from /metrics")


def create_many(base: str, count: int) -> list[int]:
    """`count` creates from RSS_CLIENTS keep-alive clients in threads; the statuses
    that were not 201."""

    body = json.dumps(CREATE_BODY).encode()

    def worker(n: int) -> list[int]:
        client = Lean(base)
        try:
            statuses = [
                client.request("POST", "/checkout_sessions", body, headers(True))[0]
                for _ in range(n)
            ]
        finally:
            client.close()
        return [s for s in statuses if s != 201]

    shares = [count // RSS_CLIENTS + (i < count % RSS_CLIENTS) for i in range(RSS_CLIENTS)]
    with ThreadPoolExecutor(RSS_CLIENTS) as pool:
        return [s for bad in pool.map(worker, [n for n in shares if n > 0]) for s in bad]


def wait_passivated(base: str) -> tuple[float, float]:
    """Poll /metrics until no session actor is live (bounded); the last gauge, seconds.
    No actor passivates before ACTOR_IDLE_SECONDS, and by then the gauge (sampled every
    2 s) is fresh: an earlier 0 may be the one sampled before the creates."""
    started = time.monotonic()
    time.sleep(RSS_ACTOR_IDLE_SECONDS)
    live = live_actors(base)
    while live > 0 and time.monotonic() - started < PASSIVATION_TIMEOUT_S:
        time.sleep(0.5)
        live = live_actors(base)
    return live, time.monotonic() - started


def measure_rss(harness: Harness, store: str, creates: int) -> RssResult:
    """A fresh server (ACTOR_IDLE_SECONDS=5): RSS before and after `creates` creates,
    and once its session actors have passivated."""
    env = {"ACTOR_IDLE_SECONDS": str(RSS_ACTOR_IDLE_SECONDS)}
    server = start_server(harness, f"rss-{store}", store, env=env)
    failed = create_many(server.base, RSS_WARMUP_CREATES)
    before = vm_rss_kib(server.pid)
    started = time.monotonic()
    failed += create_many(server.base, creates)
    if failed:
        print(f"  {store}: {len(failed)} creates failed ({failed[0]})", file=sys.stderr)
    rate = creates / (time.monotonic() - started)
    after = vm_rss_kib(server.pid)
    live, waited = wait_passivated(server.base)
    passivated = vm_rss_kib(server.pid)
    growth_kib = passivated - before
    print(f"  {store}: RSS {before / 1024:.0f} -> {passivated / 1024:.0f} MiB", file=sys.stderr)
    return RssResult(
        store=store,
        creates=creates,
        failed=len(failed),
        first_failed_status=failed[0] if failed else 0,
        creates_per_s=round(rate, 1),
        before_kib=before,
        after_kib=after,
        passivated_kib=passivated,
        live_actors_left=live,
        passivation_wait_s=round(waited, 1),
        growth_mib=round(growth_kib / 1024, 1),
        kib_per_session=round(growth_kib / creates, 2),
    )


# the run --------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """Everything one invocation measured."""

    stores: list[str]
    startup_s: dict[str, float]  # servers of the load phase
    flow_startup_s: dict[str, float]  # servers of the flow phase
    session_body_bytes: int
    idle_before: float | None  # CPU share other processes used just before the run
    flows: dict[str, FlowStats]
    flows_other_cpu: float | None
    flow_floor: dict[str, float]  # one POST to the bare route, same client
    rounds: list[dict[str, WrkResult]]
    loads: dict[str, LoadSummary]
    warmup_failures: int
    redis_commands: dict[str, dict[str, Any]]  # target -> per-request figures
    redis_idle_per_s: dict[str, dict[str, Any]]  # server -> idle commands/s per round, last
    workers: int
    rss: dict[str, RssResult]


def targets_for(
    servers: dict[str, Server], ids: dict[str, tuple[str, ...]], bare: str
) -> list[Target]:
    """Every wrk target of a round, grouped by endpoint so comparable runs sit together."""
    targets = [Target(BARE, "GET", bare, ())]
    for name, server in servers.items():
        url = f"{server.base}/checkout_sessions/{ids[name][0]}"
        targets.append(Target(name, "GET", url, ()))
    targets.append(Target(BARE, "POST", bare, UPDATE_BODIES))
    for name, server in servers.items():
        if name != WORKERS:  # forwarded writes are not what --workers is about
            paths = tuple(f"/checkout_sessions/{sid}" for sid in ids[name + " update"])
            url = f"{server.base}{paths[0]}"
            targets.append(Target(name, "update", url, UPDATE_BODIES, paths))
            targets.append(Target(name, "update 1 session", url, UPDATE_BODIES))
    for name, server in servers.items():
        targets.append(Target(name, "create", f"{server.base}/checkout_sessions", (CREATE_BODY,)))
    return targets


def prepare(servers: dict[str, Server]) -> tuple[dict[str, tuple[str, ...]], bytes]:
    """Sessions to GET and update on each server; the bytes of one GET response."""
    ids: dict[str, tuple[str, ...]] = {}
    body = b""
    for name, server in servers.items():
        client = Lean(server.base)
        try:
            ids[name] = (ready_session(client),)
            ids[f"{name} update"] = tuple(ready_session(client) for _ in range(UPDATE_SESSIONS))
            body = body or session_bytes(client, ids[name][0])
        finally:
            client.close()
    return ids, body


def flow_phase(args: argparse.Namespace, harness: Harness, stores: list[str]) -> dict[str, Any]:
    """Fresh servers for the sequential flows: their completed orders leave webhook
    events behind, which would otherwise weigh on the load rounds."""
    _, idle_before = harness.watch.during(lambda: time.sleep(1.0))
    servers = {store: start_server(harness, store, store) for store in stores}
    _, body = prepare(servers)
    bare_url = start_bare(harness, body)
    print(f"timing {args.flows} sequential flows per store", file=sys.stderr)
    bases = {store: servers[store].base for store in stores}
    warmup = min(20, args.flows)
    flows, flows_other = harness.watch.during(lambda: run_flows(bases, args.flows, warmup))
    return {
        "idle_before": idle_before,
        "flows": flows,
        "flows_other_cpu": flows_other,
        "flow_floor": bare_floor(bare_url, args.flows, warmup),
        "flow_startup_s": {name: s.startup_s for name, s in servers.items()},
    }


def load_phase(args: argparse.Namespace, harness: Harness, stores: list[str]) -> dict[str, Any]:
    """Start the servers side by side, then the wrk rounds."""
    binary = ensure_wrk()
    servers = {store: start_server(harness, store, store) for store in stores}
    if args.workers > 1:
        servers[WORKERS] = start_server(harness, WORKERS, "redis", workers=args.workers)
    ids, body = prepare(servers)
    bare_url = start_bare(harness, body)
    probes = {n: RedisProbe(s.redis_port) for n, s in servers.items() if s.redis_port}
    for probe in probes.values():
        harness.stack.callback(probe.client.close)
    bench = Bench(args, binary, harness.watch, probes)
    rounds = run_rounds(bench, targets_for(servers, ids, bare_url))
    return {
        "startup_s": {name: s.startup_s for name, s in servers.items()},
        "session_body_bytes": len(body),
        "rounds": rounds,
        "loads": summarise(rounds),
        "warmup_failures": bench.warmup_failures,
        "redis_commands": {n: t.per_request() for n, t in bench.tallies.items()},
        "redis_idle_per_s": {
            n: {"rounds": p.idle_history, "last": by_rate(p.idle)} for n, p in probes.items()
        },
    }


def run(args: argparse.Namespace, stores: list[str]) -> Outcome:
    """The flows, the load rounds, then the RSS figures, each phase with fresh processes."""
    with phase() as harness:
        flowed = flow_phase(args, harness, stores)
    with phase() as harness:
        loaded = load_phase(args, harness, stores)
    rss = {}
    for store in stores if args.rss_creates else ():
        print(f"RSS over {args.rss_creates} creates: {store}", file=sys.stderr)
        with phase() as harness:
            rss[store] = measure_rss(harness, store, args.rss_creates)
    return Outcome(stores=stores, workers=args.workers, rss=rss, **flowed, **loaded)


@contextmanager
def phase() -> Iterator[Harness]:
    """A harness whose children stop and whose temporary directory goes at exit."""
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="acs-bench-")))
        yield Harness(stack, workdir, CpuWatch())


# goals ----------------------------------------------------------------------------


def ratio_goal(name: str, value: float, minimum: float, fmt: str = "{:.0%}") -> Goal:
    return Goal(name, f">= {fmt.format(minimum)}", fmt.format(value), value >= minimum)


def rps(out: Outcome, server: str, endpoint: str) -> float:
    return out.loads[f"{server} {endpoint}"].rps


def store_goals(out: Outcome) -> list[Goal]:
    """Redis against memory; memory against the bare routes."""
    goals = []
    if set(STORES) <= set(out.stores):
        for endpoint, minimum in (("GET", 0.90), ("update", 0.80), ("create", 0.70)):
            share = rps(out, "redis", endpoint) / rps(out, "memory", endpoint)
            goals.append(ratio_goal(f"Redis {endpoint} req/s vs memory", share, minimum))
    if "memory" in out.stores:
        for endpoint, minimum in (("GET", 0.80), ("update", 0.70), ("create", 0.60)):
            bare = CEILING[endpoint]
            share = rps(out, "memory", endpoint) / rps(out, BARE, bare)
            goals.append(ratio_goal(f"memory {endpoint} req/s vs bare {bare}", share, minimum))
    return goals


def flow_goals(out: Outcome) -> list[Goal]:
    goals = []
    p50 = {store: stats["total"]["p50_ms"] for store, stats in out.flows.items()}
    if "memory" in p50:
        measured = f"{p50['memory']:.2f} ms"
        goals.append(Goal("memory sequential flow p50", "<= 5 ms", measured, p50["memory"] <= 5))
    if "memory" in p50 and "redis" in p50:
        times = p50["redis"] / p50["memory"]
        goals.append(Goal("Redis flow p50 vs memory", "<= 1.30x", f"{times:.2f}x", times <= 1.3))
    return goals


def scale_goals(out: Outcome) -> list[Goal]:
    """--workers against one process; RSS growth per 10,000 creates."""
    goals = []
    if out.workers > 1:
        for endpoint in ("GET", "create"):
            times = rps(out, WORKERS, endpoint) / rps(out, "redis", endpoint)
            name = f"Redis --workers {out.workers} {endpoint} vs 1 process"
            goals.append(ratio_goal(name, times, 1.6, "{:.2f}x"))
    for store, limit in (("redis", 40.0), ("memory", 100.0)):
        r = out.rss.get(store)
        if r is not None and r.creates >= RSS_PER:  # fewer: fixed costs would dominate
            growth = r.growth_mib * RSS_PER / r.creates
            name = f"{store} RSS growth per {RSS_PER:,} creates (after passivation)"
            goals.append(Goal(name, f"<= {limit:.0f} MiB", f"{growth:.1f} MiB", growth <= limit))
    return goals


def health_goals(out: Outcome) -> list[Goal]:
    bad = out.warmup_failures + sum(failures_of(r) for rnd in out.rounds for r in rnd.values())
    bad += sum(r.failed for r in out.rss.values())
    single = [s for name, s in out.startup_s.items() if name != WORKERS]
    slowest = max([*single, *out.flow_startup_s.values()])
    return [
        Goal("all responses 2xx, no socket errors", "0", str(bad), bad == 0),
        Goal("start-up to healthy (slowest store)", "<= 1 s", f"{slowest:.3f} s", slowest <= 1.0),
    ]


def failures_of(r: WrkResult) -> int:
    return r.non_2xx + sum(n for k, n in r.socket_errors.items() if k != "status")


def check_goals(out: Outcome) -> list[Goal]:
    return [*store_goals(out), *flow_goals(out), *scale_goals(out), *health_goals(out)]


# report -------------------------------------------------------------------------

LABEL = {"memory": "memory", "redis": "Redis", WORKERS: "workers"}


def pct(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.0%}"


def mib(kib: int) -> str:
    return f"{kib / 1024:.1f}"


def load_table(out: Outcome) -> list[str]:
    """Memory and Redis side by side per endpoint, with their shares."""
    both = set(STORES) <= set(out.stores)
    head = ["endpoint"]
    for store in out.stores:
        head += [
            f"{LABEL[store]} req/s",
            f"{LABEL[store]} p50 / p99 ms",
            f"{LABEL[store]} % of bare",
        ]
    head += ["Redis / memory"] if both else []
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for endpoint in ENDPOINTS:
        cells = [f"{endpoint} session"]
        bare = out.loads[f"{BARE} {CEILING[endpoint]}"].rps
        for store in out.stores:
            s = out.loads[f"{store} {endpoint}"]
            share = f"{s.rps / bare:.0%} of bare {CEILING[endpoint]}"
            cells += [f"{s.rps:,.0f}", f"{s.p50_ms:.1f} / {s.p99_ms:.1f}", share]
        if both:
            cells.append(f"{rps(out, 'redis', endpoint) / rps(out, 'memory', endpoint):.0%}")
        lines.append("| " + " | ".join(cells) + " |")
    for endpoint in ("GET", "POST"):
        s = out.loads[f"{BARE} {endpoint}"]
        lines.append(
            f"\nCeiling, bare {endpoint} route: {s.rps:,.0f} req/s "
            f"(p50 {s.p50_ms:.1f} ms, p99 {s.p99_ms:.1f} ms)."
        )
    return lines


def rounds_table(out: Outcome) -> list[str]:
    """Every target's req/s per round: the noise behind the medians; failures are
    non-2xx responses and socket errors of the measured runs."""
    n = len(out.rounds)
    head = ["target", *(f"round {i + 1}" for i in range(n)), "median", "spread", "other CPU"]
    head.append("failures")
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for s in out.loads.values():
        spread = max(s.rounds_rps) / min(s.rounds_rps) - 1 if min(s.rounds_rps) else 0.0
        bad = sum(failures_of(each[s.name]) for each in out.rounds)
        cells = [s.name, *(f"{x:,.0f}" for x in s.rounds_rps), f"{s.rps:,.0f}"]
        cells += [f"{spread:.0%}", pct(s.max_other_cpu), str(bad)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def commands_table(out: Outcome) -> list[str]:
    def num(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.2f}"

    lines = [
        "| target | all / req | script calls / req | top-level / req | in scripts / req "
        "| top-level commands / req |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, c in out.redis_commands.items():
        top = ", ".join(f"{k} {v:.2f}" for k, v in c["top_level_by_command"].items() if v >= 0.01)
        lines.append(
            f"| {name} | {num(c['all'])} | {num(c['scripts'])} | {num(c['top_level'])} "
            f"| {num(c['in_scripts'])} | {top} |"
        )
    lines.append("\nIdle rate subtracted, sampled at the start of each round (commands/s):")
    for name, idle in out.redis_idle_per_s.items():
        rounds = ", ".join(f"{x:,.1f}" for x in idle["rounds"])
        top = ", ".join(f"{k} {v:,.1f}" for k, v in list(idle["last"].items())[:5])
        lines.append(f"- {LABEL[name]}: {rounds} (last: {top})")
    return lines


def flows_table(out: Outcome) -> list[str]:
    stores = list(out.flows)
    both = set(STORES) <= set(stores)
    head = ["step", *(f"{LABEL[s]} {q} ms" for s in stores for q in ("p50", "p90"))]
    head += ["Redis / memory p50"] if both else []
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for step in (*FLOW_STEPS, "total"):
        cells = [step]
        for store in stores:
            stats = out.flows[store][step]
            cells += [f"{stats['p50_ms']:.2f}", f"{stats['p90_ms']:.2f}"]
        if both:
            p50 = [out.flows[store][step]["p50_ms"] for store in STORES]
            cells.append(f"{p50[1] / p50[0]:.2f}x")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def workers_table(out: Outcome) -> list[str]:
    lines = [
        f"| endpoint | 1 process req/s | --workers {out.workers} req/s | ratio |",
        "|---|---:|---:|---:|",
    ]
    for endpoint in ("GET", "create"):
        one, many = rps(out, "redis", endpoint), rps(out, WORKERS, endpoint)
        lines.append(f"| {endpoint} session | {one:,.0f} | {many:,.0f} | {many / one:.2f}x |")
    return lines


def rss_table(out: Outcome) -> list[str]:
    lines = [
        "| store | creates | creates/s | before MiB | after MiB | after passivation MiB "
        "| growth MiB | KiB / session | live actors left | wait s | not 201 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in out.rss.values():
        lines.append(
            f"| {LABEL[r.store]} | {r.creates:,} | {r.creates_per_s:,.0f} | {mib(r.before_kib)} "
            f"| {mib(r.after_kib)} | {mib(r.passivated_kib)} | {r.growth_mib:.1f} "
            f"| {r.kib_per_session:.2f} | {r.live_actors_left:.0f} "
            f"| {r.passivation_wait_s:.1f} | {r.failed} |"
        )
    if min(r.creates for r in out.rss.values()) < RSS_PER:
        lines.append(f"\nThe RSS goals need --rss-creates {RSS_PER} or more (not evaluated).")
    return lines


def report(args: argparse.Namespace, out: Outcome, goals: list[Goal]) -> str:
    title = " + ".join(LABEL[s] for s in out.stores)
    lines = [f"# Benchmark: {title} store", ""]
    lines += [
        f"## Load: wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS}, median of {args.rounds} "
        f"round(s) x {args.duration} s (warm-up {args.warmup} s per target and round)",
        "",
        *load_table(out),
        "",
        "### Per round (req/s)",
        "",
        *rounds_table(out),
    ]
    if out.redis_commands:
        lines += ["", "## Redis commands per request", "", *commands_table(out)]
    lines += [
        "",
        f"## Sequential flow (http.client keep-alive, {pct(out.flows_other_cpu)} other CPU)",
    ]
    floor = out.flow_floor
    lines += ["", *flows_table(out)]
    lines += [
        "",
        f"Floor: one POST to the bare route over the same client, p50 {floor['p50_ms']:.2f} ms, "
        f"p90 {floor['p90_ms']:.2f} ms (a flow is four requests).",
    ]
    if out.workers > 1:
        lines += ["", f"## Redis store: 1 process vs --workers {out.workers}", ""]
        lines += workers_table(out)
    if out.rss:
        lines += ["", f"## RSS (fresh server, ACTOR_IDLE_SECONDS={RSS_ACTOR_IDLE_SECONDS})", ""]
        lines += rss_table(out)
    startups = ", ".join(f"{LABEL[n]} {s * 1000:.0f} ms" for n, s in out.startup_s.items())
    flow_ups = ", ".join(f"{LABEL[n]} {s * 1000:.0f} ms" for n, s in out.flow_startup_s.items())
    lines += ["", f"Start-up to first 200 /health: {startups} (flow servers: {flow_ups})"]
    lines += ["", "## Goals", ""]
    for g in goals:
        lines.append(f"- {'PASS' if g.passed else 'FAIL'} {g.name}: {g.measured} (goal {g.target})")
    shares = [out.idle_before, out.flows_other_cpu, *(s.max_other_cpu for s in out.loads.values())]
    worst = max((x for x in shares if x is not None), default=0.0)
    if worst > BUSY_WARNING:
        lines += ["", f"WARNING: other processes used up to {worst:.0%} of the CPUs: figures low."]
    return "\n".join(lines)


def git_revision() -> str:
    done = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


def save(args: argparse.Namespace, out: Outcome, goals: list[Goal]) -> Path:
    meta = {
        "stores": out.stores,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_revision(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "wrk": {"threads": WRK_THREADS, "connections": WRK_CONNECTIONS},
        "rounds": args.rounds,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "flows": args.flows,
        "workers": args.workers,
        "rss_creates": args.rss_creates,
    }
    document = {"meta": meta, **asdict(out), "goals": [asdict(g) for g in goals]}
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(document, indent=2) + "\n")
    return RESULTS_FILE


# main ---------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark the Agentic Commerce Server.")
    parser.add_argument("--duration", type=int, default=5, help="seconds per measured wrk run")
    parser.add_argument("--warmup", type=int, default=2, help="wrk warm-up seconds per run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over every target")
    parser.add_argument("--flows", type=int, default=200, help="sequential flows per store")
    parser.add_argument(
        "--store",
        choices=(*STORES, "both"),
        default="both",
        help="the server's store: memory, a fresh redis-server (AOF), or both side by side",
    )
    parser.add_argument(
        "--workers", type=int, default=0, help="also run the Redis server with --workers N"
    )
    parser.add_argument(
        "--rss-creates", type=int, default=RSS_PER, help="creates for the RSS figure (0: skip)"
    )
    args = parser.parse_args()
    if not 1 <= args.duration <= MAX_DURATION_S or not 0 <= args.warmup <= MAX_DURATION_S:
        parser.error(f"--duration and --warmup must be at most {MAX_DURATION_S} s")
    if not 1 <= args.flows <= MAX_FLOWS or not 1 <= args.rounds <= MAX_ROUNDS:
        parser.error(f"--flows must be in 1..{MAX_FLOWS}, --rounds in 1..{MAX_ROUNDS}")
    if not 0 <= args.workers <= MAX_WORKERS or not 0 <= args.rss_creates <= MAX_RSS_CREATES:
        parser.error(f"--workers must be in 0..{MAX_WORKERS}, --rss-creates 0..{MAX_RSS_CREATES}")
    if args.workers > 1 and args.store == "memory":
        parser.error("--workers compares with the one-process Redis server: --store redis|both")
    return args


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into SystemExit so every child is stopped on the way out."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main() -> int:
    args = parse_args()
    stores = list(STORES) if args.store == "both" else [args.store]
    try:
        with stop_on_sigterm():
            out = run(args, stores)
    except (
        RuntimeError,
        OSError,
        http.client.HTTPException,
        redis.RedisError,
        subprocess.SubprocessError,
    ) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 2
    goals = check_goals(out)
    print(report(args, out, goals))
    path = save(args, out, goals)
    print(f"\nresults: {path.relative_to(ROOT)}")
    return 0 if all(g.passed for g in goals) else 1


if __name__ == "__main__":
    sys.exit(main())

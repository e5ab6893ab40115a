"""Benchmark the Agentic Commerce Server against a bare quart-trio baseline.

Starts the real server (temporary catalog with ample stock) and bench/bare_app.py
on free loopback ports, loads both with wrk (2 threads, 50 connections), times
sequential checkout flows with httpx, prints a Markdown report with PASS/FAIL per
goal and writes bench/results/latest.json. Exit status: 0 all goals pass, 1 a
goal fails, 2 the benchmark itself failed.

Usage: .venv/bin/python bench/run.py [--duration 10] [--warmup 2] [--flows 200]
                                    [--store memory|redis|both]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import redis

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
LUA_SCRIPT = BENCH / "acp.lua"
BARE_APP = BENCH / "bare_app.py"
RESULTS_FILE = BENCH / "results" / "latest.json"
REDIS_RESULTS_FILE = BENCH / "results" / "latest-redis.json"
STORES = ("memory", "redis")
TEMPLATE_CATALOG = ROOT / "agentic_commerce" / "config" / "catalog.json"

API_KEY = "api_key_demo_123"
API_VERSION = "2026-04-17"
STOCK = 10**9
WRK_THREADS = 2
WRK_CONNECTIONS = 50
START_TIMEOUT_S = 15.0
MAX_DURATION_S = 120
MAX_FLOWS = 5000
BUSY_WARNING = 0.10

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
BARE = "bare"

Process = subprocess.Popen[bytes]
T = TypeVar("T")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
Target = tuple[str, str, tuple[dict[str, Any], ...]]  # name, URL, POST bodies (none: GET)


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
            running = sum(_process_cpu(pid) for pid in self.pids)
        except (OSError, ValueError, IndexError):
            return None
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


def _process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


@dataclass(frozen=True)
class Harness:
    """What one run owns: children stopped at exit, a temporary directory, a CPU watch."""

    stack: ExitStack
    workdir: Path
    watch: CpuWatch


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
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{url}: process exited: {log.read_text()[-2000:]}")
            try:
                if client.get(url).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.005)
    raise TimeoutError(f"{url} not healthy within {START_TIMEOUT_S} s")


def start_redis(harness: Harness) -> str:
    """Start a fresh redis-server (AOF on, fsync every second) in the work dir; its URL."""
    port = free_port()
    directory = harness.workdir / "redis"
    directory.mkdir()
    log = harness.workdir / "redis.log"
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory)]
    process = spawn(harness, [*cmd, "--appendonly", "yes", "--save", ""], {}, log)
    deadline = time.monotonic() + START_TIMEOUT_S
    with redis.Redis(port=port, socket_timeout=1.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited: {log.read_text()[-2000:]}")
            try:
                if client.ping():
                    return f"redis://127.0.0.1:{port}/0"
            except redis.ConnectionError:
                pass
            time.sleep(0.005)
    raise TimeoutError(f"redis-server not answering within {START_TIMEOUT_S} s")


def start_server(harness: Harness, redis_url: str | None) -> tuple[str, float]:
    """Start the real server (on Redis when `redis_url` is given); return its base URL
    and seconds to the first 200 /health."""
    port = free_port()
    env = {
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "CATALOG_FILE": str(write_catalog(harness.workdir)),
        "LOG_LEVEL": "warning",
        # keep the rate limiter on the request path but out of the way of the load
        "RATE_LIMIT_PER_MINUTE": str(10**9),
        "RATE_LIMIT_BURST": str(10**9),
        # run the server from this checkout, whatever the venv has installed
        "PYTHONPATH": str(ROOT),
        **({"REDIS_URL": redis_url} if redis_url else {}),
    }
    base = f"http://127.0.0.1:{port}"
    log = harness.workdir / "server.log"
    started = time.perf_counter()
    process = spawn(harness, [sys.executable, "-m", "agentic_commerce"], env, log)
    wait_ok(f"{base}/health", process, log)
    return base, time.perf_counter() - started


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


# ACP over httpx -------------------------------------------------------------------


def headers(post: bool) -> dict[str, str]:
    sent = {"Authorization": f"Bearer {API_KEY}", "API-Version": API_VERSION}
    if post:
        sent["Content-Type"] = "application/json"
        sent["Idempotency-Key"] = f"bench-{uuid.uuid4().hex}"
    return sent


def post(client: httpx.Client, path: str, body: dict[str, Any], expect: int) -> dict[str, Any]:
    """POST a JSON body, check the status, return the decoded session."""
    response = client.post(path, content=json.dumps(body), headers=headers(post=True))
    if response.status_code != expect:
        raise RuntimeError(f"POST {path}: {response.status_code} {response.text[:500]}")
    decoded: dict[str, Any] = response.json()
    return decoded


def ready_session(client: httpx.Client) -> str:
    """Create a session and give it an address: ready_for_payment."""
    session_id = str(post(client, "/checkout_sessions", CREATE_BODY, 201)["id"])
    body = post(client, f"/checkout_sessions/{session_id}", ADDRESS_BODY, 200)
    if body["status"] != "ready_for_payment":
        raise RuntimeError(f"session {session_id} not ready: {body['messages']}")
    return session_id


def session_bytes(client: httpx.Client, session_id: str) -> bytes:
    response = client.get(f"/checkout_sessions/{session_id}", headers=headers(post=False))
    response.raise_for_status()
    return response.content


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


def one_flow(client: httpx.Client) -> dict[str, float]:
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


def run_flows(base: str, count: int, warmup: int) -> dict[str, dict[str, float]]:
    """p50/p90 (ms) per step and per flow over `count` sequential flows."""
    samples: dict[str, list[float]] = {name: [] for name in (*FLOW_STEPS, "total")}
    with httpx.Client(base_url=base, timeout=5.0) as client:
        for i in range(warmup + count):
            flow = one_flow(client)
            if i >= warmup:
                for name, ms in flow.items():
                    samples[name].append(ms)
    return {
        name: {"p50_ms": percentile(v, 50), "p90_ms": percentile(v, 90)}
        for name, v in samples.items()
    }


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


# wrk ----------------------------------------------------------------------------


def wrk(binary: str, url: str, seconds: int, bodies: tuple[dict[str, Any], ...]) -> dict[str, Any]:
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
        url,
        "--",
        prefix,
        API_KEY,
        API_VERSION,
        *(json.dumps(b) for b in bodies),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30, check=False)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr}{done.stdout}")
    parsed: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
    return parsed


def measure(binary: str, watch: CpuWatch, target: Target, args: argparse.Namespace) -> WrkResult:
    """Warm up, then one measured wrk run."""
    name, url, bodies = target
    if args.warmup > 0:
        wrk(binary, url, args.warmup, bodies)
    raw, others = watch.during(lambda: wrk(binary, url, args.duration, bodies))
    lat = raw["latency_us"]
    duration_s = raw["duration_us"] / 1e6
    print(f"  {name}: {raw['requests'] / duration_s:,.0f} req/s", file=sys.stderr)
    return WrkResult(
        name=name,
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


# report -------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """Everything one run measured."""

    startup_s: float
    session_body_bytes: int
    idle_before: float | None  # CPU share other processes used just before the run
    flows: dict[str, dict[str, float]]
    flows_other_cpu: float | None
    loads: dict[str, WrkResult]


def baseline(out: Outcome) -> float:
    """Bare req/s: the mean of the runs before and after the server's (drift shows)."""
    runs = [r.rps for name, r in out.loads.items() if name.startswith(BARE)]
    return sum(runs) / len(runs)


def check_goals(out: Outcome) -> list[Goal]:
    bare = baseline(out)

    def share(name: str, minimum: float) -> Goal:
        ratio = out.loads[name].rps / bare
        measured = f"{ratio:.0%}"
        return Goal(f"{name} req/s vs bare", f">= {minimum:.0%}", measured, ratio >= minimum)

    flow_p50 = out.flows["total"]["p50_ms"]
    bad = sum(r.non_2xx + sum(r.socket_errors.values()) for r in out.loads.values())
    return [
        share("GET session", 0.80),
        share("update session", 0.70),
        Goal("sequential flow p50", "<= 5 ms", f"{flow_p50:.2f} ms", flow_p50 <= 5.0),
        Goal("startup to healthy", "<= 1 s", f"{out.startup_s:.3f} s", out.startup_s <= 1.0),
        Goal("wrk responses all 2xx, no socket errors", "0", str(bad), bad == 0),
    ]


def pct(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.0%}"


def report(out: Outcome, goals: list[Goal]) -> str:
    bare = baseline(out)
    lines = [
        f"## Load: wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS}",
        "",
        "| endpoint | req/s | p50 ms | p99 ms | % of bare | non-2xx | other CPU |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in out.loads.values():
        lines.append(
            f"| {r.name} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} "
            f"| {r.rps / bare:.0%} | {r.non_2xx} | {pct(r.other_cpu)} |"
        )
    lines.append(f"\n% of bare: of the mean of the two bare runs, {bare:,.0f} req/s.")
    lines += ["", f"## Sequential flow (httpx, keep-alive, {pct(out.flows_other_cpu)} other CPU)"]
    lines += ["", "| step | p50 ms | p90 ms |", "|---|---:|---:|"]
    for name, stats in out.flows.items():
        lines.append(f"| {name} | {stats['p50_ms']:.2f} | {stats['p90_ms']:.2f} |")
    lines += ["", f"Startup to first 200 /health: {out.startup_s * 1000:.0f} ms"]
    lines += ["", "## Goals", ""]
    for g in goals:
        lines.append(f"- {'PASS' if g.passed else 'FAIL'} {g.name}: {g.measured} (goal {g.target})")
    shares = [out.idle_before, out.flows_other_cpu, *(r.other_cpu for r in out.loads.values())]
    worst = max((x for x in shares if x is not None), default=0.0)
    if worst > BUSY_WARNING:
        lines += ["", f"WARNING: other processes used up to {worst:.0%} of the CPUs: figures low."]
    return "\n".join(lines)


def git_revision() -> str:
    done = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


def save(args: argparse.Namespace, store: str, out: Outcome, goals: list[Goal]) -> Path:
    meta = {
        "store": store,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_revision(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "wrk": {"threads": WRK_THREADS, "connections": WRK_CONNECTIONS},
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "flows": args.flows,
    }
    document = {"meta": meta, **asdict(out), "goals": [asdict(g) for g in goals]}
    path = REDIS_RESULTS_FILE if store == "redis" else RESULTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


# main ---------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark the Agentic Commerce Server.")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--warmup", type=int, default=2, help="wrk warm-up seconds")
    parser.add_argument("--flows", type=int, default=200, help="sequential flows to time")
    parser.add_argument(
        "--store",
        choices=(*STORES, "both"),
        default="memory",
        help="the server's store: memory, a fresh redis-server (AOF), or both in turn",
    )
    args = parser.parse_args()
    if not 1 <= args.duration <= MAX_DURATION_S or not 0 <= args.warmup <= MAX_DURATION_S:
        parser.error(f"--duration and --warmup must be at most {MAX_DURATION_S} s")
    if not 1 <= args.flows <= MAX_FLOWS:
        parser.error(f"--flows must be between 1 and {MAX_FLOWS}")
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


def run(args: argparse.Namespace, harness: Harness, store: str) -> Outcome:
    """Start both servers, time the flows, then the wrk loads."""
    binary = ensure_wrk()
    _, idle_before = harness.watch.during(lambda: time.sleep(1.0))
    base, startup_s = start_server(harness, start_redis(harness) if store == "redis" else None)
    print(f"server healthy after {startup_s * 1000:.0f} ms", file=sys.stderr)
    with httpx.Client(base_url=base, timeout=5.0) as client:
        get_id, update_id = ready_session(client), ready_session(client)
        body = session_bytes(client, get_id)
    bare_url = start_bare(harness, body)
    print(f"timing {args.flows} sequential flows", file=sys.stderr)
    warmup = min(20, args.flows)
    flows, flows_other = harness.watch.during(lambda: run_flows(base, args.flows, warmup))
    print("wrk runs", file=sys.stderr)
    targets: list[Target] = [
        (BARE, bare_url, ()),
        ("GET session", f"{base}/checkout_sessions/{get_id}", ()),
        ("update session", f"{base}/checkout_sessions/{update_id}", UPDATE_BODIES),
        ("create session", f"{base}/checkout_sessions", (CREATE_BODY,)),
        (f"{BARE} (again)", bare_url, ()),
    ]
    loads = {t[0]: measure(binary, harness.watch, t, args) for t in targets}
    return Outcome(startup_s, len(body), idle_before, flows, flows_other, loads)


def main() -> int:
    args = parse_args()
    passed = True
    for store in STORES if args.store == "both" else (args.store,):
        print(f"store: {store}", file=sys.stderr)
        try:
            with stop_on_sigterm(), ExitStack() as stack:
                workdir = Path(
                    stack.enter_context(tempfile.TemporaryDirectory(prefix="acs-bench-"))
                )
                out = run(args, Harness(stack, workdir, CpuWatch()), store)
        except (RuntimeError, OSError, httpx.HTTPError, subprocess.SubprocessError) as exc:
            print(f"benchmark failed: {exc}", file=sys.stderr)
            return 2
        goals = check_goals(out)
        print(f"# Store: {store}\n\n{report(out, goals)}")
        path = save(args, store, out, goals)
        print(f"\nresults: {path.relative_to(ROOT)}\n")
        passed = passed and all(g.passed for g in goals)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())

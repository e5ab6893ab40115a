"""What tracing costs: the same server with tracing off and on (100 % sampled),
side by side, and optionally the code of another checkout (`--baseline DIR`, e.g.
the commit before tracing: `git archive <rev> | tar -x -C DIR`) to show what
tracing off costs.

The traced server exports over OTLP/HTTP (protobuf) to a sink in this process
that decodes every export and counts its spans, so the export's own work is in
the figures, and the report says how many spans a request produced under load
(fewer than it makes alone: the batch processor dropped some). GET (of a live
session) and create are loaded with wrk in alternating rounds, as bench/run.py
does, whose helpers this uses. Prints a Markdown report with PASS/FAIL per goal;
exit status 0 when all pass, 1 when one fails.

Usage: .venv/bin/python bench/tracing_cost.py [--store memory|redis] [--rounds 3]
           [--duration 5] [--warmup 2] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import run
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from run import CREATE_BODY, Goal, Lean, Target

GET_GOAL = 0.80  # traced GET req/s vs off: a request costs at most 1.25x
HOOKS_GOAL = 0.005  # what the hooks cost when off, as a share of a create's time
PROBES = 200  # sequential requests that count the spans of each kind of request
# The tracing hooks one create passes with tracing off: the server span's annotation,
# asks and tells to three actors (sent, handling), three store rounds (span, batcher).
HOOKS_PER_CREATE = {"describe_request": 1, "sent": 4, "handling": 4, "store_round": 3}


class SpanSink(ThreadingHTTPServer):
    """An OTLP/HTTP receiver that keeps the exports it gets, decoded only when their
    spans are counted: a collector runs elsewhere, so its work stays out of the figures."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SinkHandler)
        self.exports: list[bytes] = []
        self.counted = 0  # spans of the exports decoded so far
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def spans(self) -> int:
        """Every span received so far."""
        with self.lock:
            pending, self.exports = self.exports, []
        for body in pending:
            request = ExportTraceServiceRequest.FromString(body)
            self.counted += sum(
                len(scope.spans) for spans in request.resource_spans for scope in spans.scope_spans
            )
        return self.counted


ANSWER = ExportTraceServiceResponse().SerializeToString()


class _SinkHandler(BaseHTTPRequestHandler):
    server: SpanSink

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.server.lock:
            self.server.exports.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(ANSWER)))
        self.end_headers()
        self.wfile.write(ANSWER)

    def log_message(self, *args: object) -> None:
        """Quiet: no line per export."""


@contextmanager
def running_sink() -> Iterator[SpanSink]:
    sink = SpanSink()
    thread = threading.Thread(target=sink.serve_forever, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        sink.shutdown()
        sink.server_close()


def traced_env(sink: SpanSink) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink.url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_TRACES_SAMPLER": "always_on",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }


def requests_served(base: str) -> dict[str, int]:
    """The server's own count of the GETs of a session and the creates it answered."""
    text = run.http_text(f"{base}/metrics")
    counts = {"GET": 0, "create": 0}
    for labels, count in re.findall(r"^acs_http_requests_total\{(.*)\} (\S+)$", text, re.M):
        if 'route="/checkout_sessions/<session_id>"' in labels and 'method="GET"' in labels:
            counts["GET"] += int(float(count))
        elif 'route="/checkout_sessions"' in labels and 'method="POST"' in labels:
            counts["create"] += int(float(count))
    return counts


def spans_per_request(sink: SpanSink, base: str, session_id: str) -> dict[str, float]:
    """Spans one request makes, alone: GET of a live session, create."""
    client = Lean(base)
    per: dict[str, float] = {}
    try:
        for name in ("GET", "create"):
            before = sink.spans
            for _ in range(PROBES):
                if name == "GET":
                    path = f"/checkout_sessions/{session_id}"
                    client.request("GET", path, None, run.headers(False))
                else:
                    run.post(client, "/checkout_sessions", CREATE_BODY, 201)
            wait_settled(sink)
            per[name] = (sink.spans - before) / PROBES
    finally:
        client.close()
    return per


def hooks_off_seconds() -> float:
    """Time of the hooks one create passes with tracing off, measured in this process
    (they are plain function calls: the rounds' noise hides them)."""
    from agentic_commerce import tracing
    from agentic_commerce.http.tracing import describe_request

    assert not tracing.enabled()

    def one_create() -> None:
        for _ in range(HOOKS_PER_CREATE["describe_request"]):
            describe_request("POST", "/checkout_sessions", "req_1", 201)
        for _ in range(HOOKS_PER_CREATE["sent"]):
            tracing.sent()
        for _ in range(HOOKS_PER_CREATE["handling"]):
            with tracing.handling(None, "session", "session:cs_1", "Create"):
                pass
        for _ in range(HOOKS_PER_CREATE["store_round"]):
            with tracing.child_span("EVALSHA commit") if tracing.recording() else tracing.NOTHING:
                tracing.current_span()

    runs = 20_000
    started = time.perf_counter()
    for _ in range(runs):
        one_create()
    return (time.perf_counter() - started) / runs


def wait_settled(sink: SpanSink) -> None:
    """Until the exporter has sent what it had (the count stops moving for 1 s)."""
    last = -1
    while sink.spans != last:
        last = sink.spans
        time.sleep(1.0)


Figures = tuple[dict[str, run.LoadSummary], dict[str, float], float, float]


def measure(args: argparse.Namespace) -> Figures:
    """Median loads per target, spans per request alone, the share of the spans made
    under load that were exported, seconds of the hooks of one create with tracing off."""
    with run.phase() as harness, running_sink() as sink:
        store = args.store
        servers = {
            "off": run.start_server(harness, "off", store),
            "on": run.start_server(harness, "on", store, env=traced_env(sink)),
        }
        if args.baseline:
            baseline_env = {"PYTHONPATH": str(Path(args.baseline).resolve())}
            servers["baseline"] = run.start_server(harness, "baseline", store, env=baseline_env)
        ids, _ = run.prepare(servers)
        targets = []
        for endpoint in ("GET", "create"):  # comparable runs side by side
            for name, server in servers.items():
                if endpoint == "GET":
                    url, bodies = f"{server.base}/checkout_sessions/{ids[name][0]}", ()
                else:
                    url, bodies = f"{server.base}/checkout_sessions", (CREATE_BODY,)
                targets.append(Target(name, endpoint, url, bodies))
        bench = run.Bench(args, run.ensure_wrk(), harness.watch, {})
        wait_settled(sink)
        exported_before = sink.spans
        served_before = requests_served(servers["on"].base)
        loads = run.summarise(run.run_rounds(bench, targets))
        wait_settled(sink)
        exported = sink.spans - exported_before
        served = requests_served(servers["on"].base)
        alone = spans_per_request(sink, servers["on"].base, ids["on"][0])
        made = sum((served[kind] - served_before[kind]) * alone[kind] for kind in alone)
        under_load = exported / max(made, 1.0)
        return loads, alone, under_load, hooks_off_seconds()


def report(args: argparse.Namespace, figures: Figures) -> tuple[str, list[Goal]]:
    loads, alone, under_load, hooks = figures
    servers = [name for name in ("baseline", "off", "on") if f"{name} GET" in loads]
    lines = [
        f"# Tracing cost: {args.store} store, wrk -t{run.WRK_THREADS} -c{run.WRK_CONNECTIONS}, "
        f"median of {args.rounds} round(s) x {args.duration} s",
        "",
        "| server | GET req/s | GET p50 / p99 ms | create req/s | create p50 / p99 ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in servers:
        get, create = loads[f"{name} GET"], loads[f"{name} create"]
        lines.append(
            f"| {name} | {get.rps:,.0f} | {get.p50_ms:.1f} / {get.p99_ms:.1f} | "
            f"{create.rps:,.0f} | {create.p50_ms:.1f} / {create.p99_ms:.1f} |"
        )
    lines += [
        "",
        f"Spans per request: GET {alone['GET']:.1f}, create {alone['create']:.1f}; under load "
        f"{under_load:.0%} of the spans made were exported (the rest: dropped by the full "
        "batch queue).",
    ]
    create_s = 1 / loads["off create"].rps  # a create's share of the server, under load
    lines.append(
        f"Tracing off: the hooks of one create take {hooks * 1e6:.2f} us "
        f"({hooks / create_s:.3%} of a create at the off server's rate)."
    )
    share = loads["on create"].rps / loads["off create"].rps
    lines.append(f"Traced (100 %) create: {share:.0%} of the off server's req/s.")
    share = loads["on GET"].rps / loads["off GET"].rps
    goals = [run.ratio_goal("traced (100 %) GET req/s vs off", share, GET_GOAL)]
    goals.append(
        Goal(
            "tracing off: hooks per create",
            f"<= {HOOKS_GOAL:.1%} of a create",
            f"{hooks / create_s:.3%}",
            hooks / create_s <= HOOKS_GOAL,
        )
    )
    if "baseline" in servers:  # reported: the rounds' noise is larger than what is compared
        for endpoint in ("GET", "create"):
            share = loads[f"off {endpoint}"].rps / loads[f"baseline {endpoint}"].rps
            lines.append(f"Off vs baseline, {endpoint}: {share:.0%} of the baseline's req/s.")
    lines += ["", "## Goals", ""]
    for g in goals:
        lines.append(f"- {'PASS' if g.passed else 'FAIL'} {g.name}: {g.measured} (goal {g.target})")
    return "\n".join(lines), goals


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="What tracing costs the server.")
    parser.add_argument("--store", choices=run.STORES, default="memory")
    parser.add_argument("--duration", type=int, default=5, help="seconds per measured wrk run")
    parser.add_argument("--warmup", type=int, default=2, help="wrk warm-up seconds per run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over every target")
    parser.add_argument("--baseline", help="a source tree to compare tracing off with")
    args = parser.parse_args()
    if not 1 <= args.duration <= run.MAX_DURATION_S or not 1 <= args.rounds <= run.MAX_ROUNDS:
        parser.error("--duration or --rounds out of range")
    if args.baseline and not (Path(args.baseline) / "agentic_commerce").is_dir():
        parser.error("--baseline must hold an agentic_commerce package")
    return args


def main() -> int:
    args = parse_args()
    with run.stop_on_sigterm():
        figures = measure(args)
    text, goals = report(args, figures)
    print(text)
    return 0 if all(g.passed for g in goals) else 1


if __name__ == "__main__":
    sys.exit(main())

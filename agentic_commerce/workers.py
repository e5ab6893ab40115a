"""`agentic-commerce-server --workers N`: N server processes on one port.

Each worker is a full server (its own trio run, supervisor tree and actors) that
binds the public port with SO_REUSEPORT, plus an internal loopback port of its
own (`INSTANCE_URL`) for requests forwarded by other instances. Workers share
state only through Redis, exactly as separate machines would, so N > 1 needs
`REDIS_URL`. The parent restarts a worker that dies and stops them all on
SIGINT/SIGTERM; Prometheus multiprocess mode aggregates their metrics.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from prometheus_client import multiprocess

RESTART_BACKOFF_SECONDS = 1.0


def worker_env(base: Mapping[str, str], index: int, internal_port: int) -> dict[str, str]:
    """The environment of worker `index`: its instance address and the shared port."""
    env = dict(base)
    env["WORKER_INDEX"] = str(index)
    env["WORKERS"] = env.get("WORKERS") or "1"
    env["INSTANCE_URL"] = f"http://127.0.0.1:{internal_port}"
    env["INTERNAL_PORT"] = str(internal_port)
    return env


def metrics_dir(base: Mapping[str, str]) -> Path:
    """An empty directory for prometheus-client's multiprocess files (emptied at start)."""
    configured = base.get("PROMETHEUS_MULTIPROC_DIR")
    path = Path(configured) if configured else Path(tempfile.mkdtemp(prefix="acs-metrics-"))
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def run_workers(count: int, internal_port_base: int) -> int:
    """Start `count` workers and keep them running until a signal; returns the exit status."""
    base = dict(os.environ)
    own_dir = not base.get("PROMETHEUS_MULTIPROC_DIR")  # made here: removed at exit
    base["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir(base))
    try:
        return _supervise(base, count, internal_port_base)
    finally:
        if own_dir:
            shutil.rmtree(base["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def _supervise(base: dict[str, str], count: int, internal_port_base: int) -> int:
    base["WORKERS"] = str(count)
    base.setdefault("INTERNAL_SECRET", secrets.token_hex(32))  # shared by these workers only
    command = [sys.executable, "-m", "agentic_commerce"]
    metrics_path = base["PROMETHEUS_MULTIPROC_DIR"]
    stopping = False
    status = 0

    def spawn(index: int) -> subprocess.Popen[bytes]:
        env = worker_env(base, index, internal_port_base + index)
        return subprocess.Popen(command, env=env)

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for process in workers.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)

    workers = {index: spawn(index) for index in range(count)}
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while True:
        for index, process in list(workers.items()):
            code = process.poll()
            if code is None:
                continue
            # Its live gauges (e.g. live session actors) must not count any more.
            multiprocess.mark_process_dead(process.pid, metrics_path)  # type: ignore[no-untyped-call]
            if stopping:
                del workers[index]
            elif code == 2:  # bad configuration: restarting cannot help
                del workers[index]
                stop(signal.SIGTERM, None)
                status = 2  # once the others have stopped
            else:
                print(f"worker {index} exited with {code}; restarting", file=sys.stderr)
                time.sleep(RESTART_BACKOFF_SECONDS)
                workers[index] = spawn(index)
        if stopping and not workers:
            return status
        time.sleep(0.2)

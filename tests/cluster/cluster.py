"""Several real server processes on one real redis-server, for the cluster tests.

Each instance is `python -m agentic_commerce` on its own public port, with its
own internal port (`INSTANCE_URL`/`INTERNAL_PORT`) and the shared
`INTERNAL_SECRET`, `LEASE_TTL_SECONDS` and `REDIS_URL`. Starting is split from
waiting so a trio test can wait in a thread while its own fakes keep serving.
Every instance writes its stderr to a file (a full pipe would block its logs),
shown when a test fails.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests import acp_schema, crashes
from tests.e2e.server import free_port, wait_healthy

T = TypeVar("T")
STOP_TIMEOUT = 30.0
VERSION = "2026-04-17"
API_KEY = "api_key_demo_123"
ADMIN_KEY = "admin_key_cluster_tests"
INTERNAL_SECRET = "internal-secret-for-the-cluster-tests"
HEADERS = {"Authorization": f"Bearer {API_KEY}", "API-Version": VERSION}
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}"}
ADDRESS = {
    "name": "Jane Doe",
    "line_one": "1 Market St",
    "city": "San Francisco",
    "state": "CA",
    "country": "US",
    "postal_code": "94105",
}
CREATE = {"currency": "usd", "line_items": [{"id": "item_123"}], "capabilities": {}}
UPDATE_ADDRESS = {"fulfillment_details": {"name": "Jane Doe", "address": ADDRESS}}


def pay(token: str = "tok_test_ok") -> dict[str, Any]:
    return {
        "payment_data": {
            "handler_id": "card_tokenized",
            "instrument": {"type": "card", "credential": {"type": "spt", "token": token}},
        }
    }


def post_headers(key: str | None = None) -> dict[str, str]:
    return {"Idempotency-Key": key or f"idem_{uuid.uuid4().hex}"}


def loopback_env(port: int, internal_port: int, extra: dict[str, str]) -> dict[str, str]:
    """The environment of one instance on loopback: its public and internal ports,
    its INSTANCE_URL, and `extra` on top."""
    return {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "INSTANCE_URL": f"http://127.0.0.1:{internal_port}",
        "INTERNAL_PORT": str(internal_port),
        **extra,
    }


@dataclass
class Instance:
    name: str
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    internal_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def internal_url(self) -> str:
        return f"http://127.0.0.1:{self.internal_port}"

    def start(self) -> None:
        env = loopback_env(self.port, self.internal_port, self.env)
        handle, name = tempfile.mkstemp(prefix=f"acs-{self.name}-", suffix=".log")
        self.log_path = Path(name)
        with os.fdopen(handle, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "agentic_commerce"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def wait_healthy(self) -> None:
        assert self.process is not None
        wait_healthy(self.base_url, self.process)

    def kill(self) -> None:
        """SIGKILL: no shutdown path runs; its leases stay until they lapse."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=STOP_TIMEOUT)

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def cleanup(self) -> None:
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)


def cluster_env(redis_url: str, lease_ttl: float, **extra: str) -> dict[str, str]:
    return {
        "REDIS_URL": redis_url,
        "INTERNAL_SECRET": INTERNAL_SECRET,
        "LEASE_TTL_SECONDS": str(lease_ttl),
        "ADMIN_API_KEY": ADMIN_KEY,
        "RATE_LIMIT_PER_MINUTE": "1000000",
        "LOG_LEVEL": "warning",
        **extra,
    }


@dataclass
class Cluster:
    instances: list[Instance]

    def start(self) -> None:
        """Starts every process (they boot in parallel); see `wait_healthy`."""
        for instance in self.instances:
            instance.start()

    def wait_healthy(self) -> None:
        for instance in self.instances:
            instance.wait_healthy()

    def stop(self) -> None:
        for instance in self.instances:
            if instance.process is not None and instance.process.poll() is None:
                instance.process.send_signal(signal.SIGTERM)
        for instance in self.instances:
            instance.stop()
        for instance in self.instances:
            if instance.log_path is not None and instance.log_path.exists():
                crashes.check_process_log(instance.log_path.read_bytes(), instance.name)

    def logs(self) -> str:
        return "\n".join(f"--- {i.name} ---\n{i.log_tail()}" for i in self.instances)

    def cleanup(self) -> None:
        for instance in self.instances:
            instance.cleanup()


def make_cluster(count: int, env: dict[str, str]) -> Cluster:
    return Cluster([Instance("abcdefgh"[i], env) for i in range(count)])


@contextmanager
def running_cluster(count: int, env: dict[str, str]) -> Iterator[Cluster]:
    """`count` healthy instances for the body of the block; their logs on failure."""
    cluster = make_cluster(count, env)
    try:
        cluster.start()
        cluster.wait_healthy()
        yield cluster
    except BaseException:
        print(cluster.logs(), file=sys.stderr)
        raise
    finally:
        cluster.stop()
        cluster.cleanup()


def session_actor_ids(base_url: str) -> set[str]:
    """The session actors live on one instance (its admin API)."""
    response = httpx.get(
        f"{base_url}/admin/actors", params={"kind": "session"}, headers=ADMIN_HEADERS, timeout=5
    )
    response.raise_for_status()
    return {actor["id"] for actor in response.json()["actors"]}


@dataclass
class Reply:
    status: int
    body: Any
    seconds: float


class Api:
    """ACP calls to one instance; every 2xx body is schema-checked, every error
    body too (the flat Error)."""

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self.http = httpx.Client(base_url=instance.base_url, headers=HEADERS, timeout=30)

    def close(self) -> None:
        self.http.close()

    def _send(self, method: str, path: str, body: Any = None) -> Reply:
        started = time.monotonic()
        if method == "POST":
            response = self.http.post(path, json=body, headers=post_headers())
        else:
            response = self.http.get(path)
        reply = Reply(response.status_code, response.json(), time.monotonic() - started)
        check(reply)
        return reply

    def create(self, body: Any = None) -> Reply:
        return self._send("POST", "/checkout_sessions", body or CREATE)

    def update(self, session_id: str, body: Any) -> Reply:
        return self._send("POST", f"/checkout_sessions/{session_id}", body)

    def complete(self, session_id: str, body: Any = None) -> Reply:
        return self._send("POST", f"/checkout_sessions/{session_id}/complete", body or pay())

    def get(self, session_id: str) -> Reply:
        return self._send("GET", f"/checkout_sessions/{session_id}")


def check(reply: Reply) -> None:
    if 200 <= reply.status < 300:
        acp_schema.assert_checkout_session(VERSION, reply.body)
    else:
        acp_schema.assert_error(VERSION, reply.body)

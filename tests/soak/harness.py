"""The processes of the soak: one redis-server (AOF, restartable on its port and
data directory) and several server instances on it, each restartable on the same
public and internal ports (so the same `INSTANCE_URL`).

Every exit is recorded with whether the soak caused it: the soak kills with
`kill()` (SIGKILL), `shutdown()` (Redis' SHUTDOWN) or `stop()` (SIGTERM at the
end); any other exit is the process dying on its own. Each incarnation of an
instance writes its stderr (JSON log lines) to a file of its own in the work
directory, so the log check can tell which incarnation logged what.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from agentic_commerce.domain.catalog import Catalog
from agentic_commerce.domain.discounts import USAGE_PREFIX
from tests.cluster.cluster import loopback_env
from tests.e2e.server import free_port, wait_healthy
from tests.fakes.asgi import Receive, Scope, Send, serving
from tests.fakes.webhook_receiver import FakeReceiver
from tests.redis_server import RedisServer

STOP_TIMEOUT = 30.0
API_KEY = "api_key_demo_123"
ADMIN_KEY = "admin_key_for_the_soak_test_0123456789"
INTERNAL_SECRET = "internal-secret-of-the-soak-test-0123456789"
WEBHOOK_SECRET = "whsec_soak_test_0123456789abcdef"
STRIPE_SECRET = "sk_test_fake_secret_soak_51Hx"
STRIPE_API_VERSION = "2026-04-22.preview"

GADGET = "soak_gadget"  # plenty of stock
SCARCE = "soak_scarce"  # runs out during the run: sold out, never oversold
EBOOK = "soak_ebook"  # digital: no address, no stock holds
LAUNCH = "LAUNCH"  # a code whose uses run out during the run: no more orders than its limit
LAUNCH_ID = "soak_launch"
LAUNCH_USES = f"{USAGE_PREFIX}{LAUNCH_ID}"  # its uses' stock key, seeded with the limit
SAVE = "SAVE5"  # a code without a limit (nothing held for it)


def catalog(gadget_stock: int, scarce_stock: int, launch_uses: int) -> dict[str, Any]:
    """The soak's products and promotions. LAUNCH is the only `across` promotion, so
    an order discount (the `discount` total) is a use of it."""
    return {
        "currency": "usd",
        "products": [
            {"id": GADGET, "title": "Soak Gadget", "unit_amount": 2599, "stock": gadget_stock},
            {
                "id": SCARCE,
                "title": "Soak Scarce Item",
                "unit_amount": 12900,
                "stock": scarce_stock,
            },
            {
                "id": EBOOK,
                "title": "Soak E-book",
                "unit_amount": 999,
                "stock": 1_000_000,
                "digital": True,
            },
        ],
        "promotions": [
            {
                "id": LAUNCH_ID,
                "code": LAUNCH,
                "name": "1.00 off while uses last",
                "amount_off": 100,
                "currency": "usd",
                "usage_limit": launch_uses,
            },
            {
                "id": "soak_save",
                "code": SAVE,
                "name": "5 % off every item",
                "percent_off": 5,
                "method": "each",
            },
        ],
    }


def stock_levels(doc: dict[str, Any]) -> dict[str, int]:
    """The stock keys the server seeds from a catalog, with their units: each
    product's stock, and each usage-limited promotion's uses."""
    return Catalog.from_document(doc).stock_levels()


@dataclass
class Exit:
    """A process exit the soak observed."""

    name: str
    incarnation: int
    code: int | None
    at: float
    expected: bool
    log_tail: str = ""


@dataclass
class SoakRedis:
    """A redis-server with AOF (fsync always) on a fixed port and directory."""

    directory: Path
    server: RedisServer = field(init=False)
    expect_exit: bool = False
    incarnation: int = 0

    def __post_init__(self) -> None:
        self.server = RedisServer(self.directory)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return self.server.process

    def client(self) -> redis.Redis:
        """A client that does not retry (redis-py retries a refused connection
        with back-off by default, which would blur when Redis was down)."""
        return redis.Redis(port=self.server.port, socket_timeout=5, retry=Retry(NoBackoff(), 0))

    def start(self) -> None:
        """Start on the same port and data directory; returns once it answers PING
        (it has loaded its AOF by then)."""
        self.incarnation += 1
        self.server.start()
        self.expect_exit = False

    def kill(self) -> None:
        """SIGKILL: only what the AOF holds survives."""
        self.expect_exit = True
        self.server.kill()

    def shutdown(self) -> None:
        """SHUTDOWN: Redis fsyncs its AOF and exits by itself."""
        self.expect_exit = True
        try:
            with self.client() as client:
                client.shutdown()
        except redis.ConnectionError:
            pass  # the connection closes as the server exits
        assert self.server.process is not None
        try:
            self.server.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.server.kill()

    def stop(self) -> None:
        self.expect_exit = True
        self.server.stop()


@dataclass
class SoakInstance:
    name: str
    env: dict[str, str]
    work_dir: Path
    server_src: str | None = None  # run the server from this source tree (PYTHONPATH)
    port: int = field(default_factory=free_port)
    internal_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    incarnation: int = 0
    expect_exit: bool = False
    terminated: bool = False
    logs: list[Path] = field(default_factory=list)  # one per incarnation, in order
    started_at: float = 0.0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def internal_url(self) -> str:
        return f"http://127.0.0.1:{self.internal_port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """A new process on the same ports (the same INSTANCE_URL)."""
        env = loopback_env(self.port, self.internal_port, self.env)
        if self.server_src:
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (self.server_src, env.get("PYTHONPATH", "")) if p
            )
        log_path = self.work_dir / f"instance-{self.name}.{self.incarnation}.log"
        self.logs.append(log_path)
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "agentic_commerce"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        self.started_at = time.monotonic()
        self.expect_exit = self.terminated = False

    def wait_healthy(self) -> None:
        assert self.process is not None
        wait_healthy(self.base_url, self.process)

    def restart(self) -> None:
        self.incarnation += 1
        self.start()

    def kill(self) -> None:
        """SIGKILL: no shutdown path runs; its leases and claims stay until they lapse."""
        self.expect_exit = True
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)

    def terminate(self) -> None:
        """SIGTERM without waiting (see `stop`)."""
        self.expect_exit = self.terminated = True
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self) -> int | None:
        """SIGTERM, then the exit status (a graceful stop exits 0)."""
        if self.process is None:
            return None
        if not self.terminated:  # once: a second SIGTERM may end it at once
            self.terminate()
        try:
            return self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)
            return None

    def log_tail(self, lines: int = 30) -> str:
        if not self.logs or not self.logs[-1].exists():
            return ""
        return "\n".join(self.logs[-1].read_text(errors="replace").splitlines()[-lines:])


def instance_env(
    *,
    redis_url: str,
    lease_ttl: float,
    redis_timeout: float,
    payment_timeout: float,
    stripe_url: str,
    webhook_url: str,
    catalog_file: Path,
    session_ttl: int,
) -> dict[str, str]:
    return {
        "REDIS_URL": redis_url,
        "INTERNAL_SECRET": INTERNAL_SECRET,
        "LEASE_TTL_SECONDS": str(lease_ttl),
        "REDIS_TIMEOUT_SECONDS": str(redis_timeout),
        "PAYMENT_TIMEOUT_SECONDS": str(payment_timeout),
        "ADMIN_API_KEY": ADMIN_KEY,
        "ADMIN_ALLOW_KILL": "true",
        "STRIPE_SECRET_KEY": STRIPE_SECRET,
        "STRIPE_API_BASE": stripe_url,
        "STRIPE_API_VERSION": STRIPE_API_VERSION,
        "SIMULATED_PAYMENTS": "false",  # every charge goes to (the fake) Stripe
        "WEBHOOK_URL": webhook_url,
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "WEBHOOK_TIMEOUT_SECONDS": "2",
        "WEBHOOK_POLL_SECONDS": "0.5",
        "WEBHOOK_RETRY_SCHEDULE": "0.5,1,1,2,2,3,3,5,5,5,5,5",
        "CATALOG_FILE": str(catalog_file),
        "SESSION_TTL_SECONDS": str(session_ttl),
        "EXPIRY_SWEEP_SECONDS": "1",
        "ACTOR_IDLE_SECONDS": "3",  # sessions passivate and move between instances
        "SHUTDOWN_TIMEOUT_SECONDS": "3",
        "RATE_LIMIT_PER_MINUTE": "1000000",
        "LOG_LEVEL": "warning",
        "LOG_FORMAT": "json",
    }


def log_entries(path: Path) -> list[tuple[str, dict[str, Any] | None]]:
    """Each line of a log file, with its JSON object when it is one."""
    if not path.exists():
        return []
    entries: list[tuple[str, dict[str, Any] | None]] = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            entries.append((line, None))
            continue
        entries.append((line, entry if isinstance(entry, dict) else None))
    return entries


@dataclass
class TimedReceiver(FakeReceiver):
    """The signing webhook receiver, also noting when each event was first
    accepted (soak seconds), for the delivery lag."""

    clock: Callable[[], float] = time.monotonic
    accepted_at: dict[str, float] = field(default_factory=dict)  # event id -> when

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)
        if scope["type"] != "http" or not self.deliveries:
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        event_id = headers.get("webhook-event-id")
        answered = next(
            (d for d in reversed(self.deliveries) if d.headers.get("webhook-event-id") == event_id),
            None,
        )
        if event_id and answered is not None and answered.status == 200:
            self.accepted_at.setdefault(event_id, self.clock())


@asynccontextmanager
async def running_timed_receiver(
    secret: str, clock: Callable[[], float]
) -> AsyncIterator[TimedReceiver]:
    receiver = TimedReceiver(secret, clock=clock)
    async with serving(receiver) as url:
        receiver.url = f"{url}/agentic_checkout/webhooks/order_events"
        yield receiver

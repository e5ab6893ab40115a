"""The faults of the soak: a seeded, bounded schedule, injected one after another
(each heavy fault is healed before the next begins), and the watchers that run
beside the load: the process monitor (exits the soak did not cause) and the
sampler of live session actors (split brain).

Faults:
- `kill_sessions`: 1-3 live session actors of one instance (busy ones first),
  through `POST /admin/actors/{id}/kill`;
- `kill_service`: the inventory, payment or webhooks actor of one instance (at
  most one per instance every few seconds: more would be a restart storm that
  the supervisor escalates by design);
- `kill_instance`: SIGKILL one instance, then start it again on the same ports
  (same INSTANCE_URL) and wait until it answers /health;
- `restart_redis`: SIGKILL or SHUTDOWN redis-server, start it again on the same
  port with its AOF;
- `stripe_errors`: the fake Stripe answers the next 2-9 requests with 500 (a
  charge that meets three in a row outlasts the stripe client's retries: a 502);
- `receiver_errors`: the webhook receiver answers the next deliveries with 503.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import trio

from tests.fakes.stripe_server import FakeStripe
from tests.fakes.webhook_receiver import FakeReceiver
from tests.soak.harness import ADMIN_KEY, Exit, SoakInstance, SoakRedis
from tests.soak.records import ActorSample, Fault

KINDS: dict[str, float] = {  # kind -> weight
    "kill_sessions": 3.0,
    "kill_service": 2.0,
    "kill_instance": 2.0,
    "restart_redis": 1.5,
    "stripe_errors": 1.0,
    "receiver_errors": 0.5,
}
SERVICES = ("inventory", "payment", "webhooks")
SERVICE_KILL_SPACING = 6.0  # seconds between service kills on one instance
CONSUME_TIMEOUT = 15.0  # scripted errors at the fakes are used up within this
MONITOR_INTERVAL = 0.1
SAMPLE_INTERVAL = 0.5
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}"}


def schedule(
    rng: random.Random, start: float, end: float, gap: tuple[float, float]
) -> list[tuple[float, str]]:
    """(time, kind) from `start` to `end`: every kind once first (in a shuffled
    order), then weighted random kinds."""
    kinds = list(KINDS)
    rng.shuffle(kinds)
    plan: list[tuple[float, str]] = []
    at = start
    while at < end:
        kind = kinds.pop(0) if kinds else rng.choices(list(KINDS), list(KINDS.values()))[0]
        plan.append((at, kind))
        at += rng.uniform(*gap)
    return plan


@dataclass
class Cluster:
    """What the faults act on."""

    instances: list[SoakInstance]
    redis: SoakRedis
    fake: FakeStripe
    receiver: FakeReceiver
    clock: Callable[[], float]
    faults: list[Fault] = field(default_factory=list)
    exits: list[Exit] = field(default_factory=list)
    killed: dict[tuple[str, int], set[str]] = field(default_factory=dict)
    samples: list[ActorSample] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # faults with nothing to act on
    failures: list[str] = field(default_factory=list)  # a restart that did not come up
    locks: dict[str, trio.Lock] = field(default_factory=dict)

    def lock(self, name: str) -> trio.Lock:
        return self.locks.setdefault(name, trio.Lock())


class Injector:
    def __init__(self, cluster: Cluster, rng: random.Random, admin: httpx.AsyncClient) -> None:
        self.cluster = cluster
        self.rng = rng
        self.admin = admin
        self.last_service_kill: dict[str, float] = {}

    async def run(self, plan: list[tuple[float, str]]) -> None:
        clock = self.cluster.clock
        for at, kind in plan:
            await trio.sleep(max(0.0, at - clock()))
            await getattr(self, kind)()

    def _record(self, kind: str, target: str, started: float, detail: str = "") -> None:
        self.cluster.faults.append(Fault(kind, target, started, self.cluster.clock(), detail))

    def _skip(self, kind: str) -> None:
        self.cluster.skipped[kind] = self.cluster.skipped.get(kind, 0) + 1

    async def _kill_actor(self, instance: SoakInstance, actor_id: str) -> bool:
        # Counted as killed before the call: the crash line may precede the answer.
        killed = self.cluster.killed.setdefault((instance.name, instance.incarnation), set())
        killed.add(actor_id)
        try:
            response = await self.admin.post(f"{instance.base_url}/admin/actors/{actor_id}/kill")
        except httpx.HTTPError:
            return False
        return response.status_code == 202

    async def kill_sessions(self) -> None:
        instance = self.rng.choice(self.cluster.instances)
        try:
            response = await self.admin.get(
                f"{instance.base_url}/admin/actors", params={"kind": "session"}
            )
            actors = response.json()["actors"] if response.status_code == 200 else []
        except (httpx.HTTPError, ValueError):
            actors = []
        busy = [a["id"] for a in actors if a["status"] == "busy"]
        idle = [a["id"] for a in actors if a["status"] != "busy"]
        chosen = (self.rng.sample(busy, len(busy)) + self.rng.sample(idle, len(idle)))[
            : self.rng.randint(1, 3)
        ]
        if not chosen:
            self._skip("kill_sessions")
            return
        started = self.cluster.clock()
        done = [sid for sid in chosen if await self._kill_actor(instance, sid)]
        self._record("kill_sessions", instance.name, started, f"{len(done)} of {chosen}")

    async def kill_service(self) -> None:
        now = self.cluster.clock()
        ready = [
            i
            for i in self.cluster.instances
            if now - self.last_service_kill.get(i.name, -1e9) >= SERVICE_KILL_SPACING
        ]
        if not ready:
            self._skip("kill_service")
            return
        instance = self.rng.choice(ready)
        service = self.rng.choice(SERVICES)
        self.last_service_kill[instance.name] = now
        started = self.cluster.clock()
        ok = await self._kill_actor(instance, service)
        self._record("kill_service", f"{instance.name}/{service}", started, "" if ok else "refused")

    async def kill_instance(self) -> None:
        instance = self.rng.choice(self.cluster.instances)
        downtime = self.rng.uniform(0.3, 2.0)
        async with self.cluster.lock(instance.name):
            started = self.cluster.clock()
            await trio.to_thread.run_sync(instance.kill)
            await trio.sleep(downtime)
            await trio.to_thread.run_sync(instance.restart)
            try:
                await trio.to_thread.run_sync(instance.wait_healthy)
            except (RuntimeError, TimeoutError) as exc:
                self.cluster.failures.append(f"instance {instance.name} after SIGKILL: {exc}")
            self._record("kill_instance", instance.name, started, f"down {downtime:.1f}s")

    async def restart_redis(self) -> None:
        redis = self.cluster.redis
        how = self.rng.choice(("sigkill", "shutdown"))
        downtime = self.rng.uniform(0.3, 1.5)
        async with self.cluster.lock("redis"):
            started = self.cluster.clock()
            await trio.to_thread.run_sync(redis.kill if how == "sigkill" else redis.shutdown)
            await trio.sleep(downtime)
            try:
                await trio.to_thread.run_sync(redis.start)
            except (RuntimeError, TimeoutError) as exc:
                self.cluster.failures.append(f"redis after {how}: {exc}")
            self._record("restart_redis", "redis", started, f"{how}, down {downtime:.1f}s")

    async def stripe_errors(self) -> None:
        count = self.rng.randint(2, 9)  # shared by the charges under way: some meet 3 in a row
        fake = self.cluster.fake
        started = self.cluster.clock()
        fake.faults.extend(["500"] * count)
        with trio.move_on_after(CONSUME_TIMEOUT):
            while fake.faults:  # noqa: ASYNC110 (the fake has no event to wait on)
                await trio.sleep(0.05)
        left = len(fake.faults)
        fake.faults.clear()
        self._record("stripe_errors", "stripe", started, f"{count} x 500, {left} unused")

    async def receiver_errors(self) -> None:
        count = self.rng.randint(1, 5)
        receiver = self.cluster.receiver
        started = self.cluster.clock()
        receiver.script.extend([503] * count)
        with trio.move_on_after(CONSUME_TIMEOUT):
            while receiver.script:  # noqa: ASYNC110 (the receiver has no event for it)
                await trio.sleep(0.05)
        left = len(receiver.script)
        receiver.script.clear()
        self._record("receiver_errors", "receiver", started, f"{count} x 503, {left} unused")


async def monitor(cluster: Cluster) -> None:
    """Notices every exit; one the soak did not cause is recorded, and the
    process is started again so that the run can go on."""
    seen: set[int] = set()
    while True:
        for instance in cluster.instances:
            process = instance.process
            if process is None or id(process) in seen or process.poll() is None:
                continue
            seen.add(id(process))
            expected = instance.expect_exit
            cluster.exits.append(
                Exit(
                    instance.name,
                    instance.incarnation,
                    process.returncode,
                    cluster.clock(),
                    expected,
                    "" if expected else instance.log_tail(),
                )
            )
            if not expected:
                await _restart_instance(cluster, instance)
        process = cluster.redis.process
        if process is not None and id(process) not in seen and process.poll() is not None:
            seen.add(id(process))
            expected = cluster.redis.expect_exit
            cluster.exits.append(
                Exit(
                    "redis",
                    cluster.redis.incarnation,
                    process.returncode,
                    cluster.clock(),
                    expected,
                )
            )
            if not expected:
                started = cluster.clock()
                async with cluster.lock("redis"):
                    await trio.to_thread.run_sync(cluster.redis.start)
                cluster.faults.append(Fault("unexpected_exit", "redis", started, cluster.clock()))
        await trio.sleep(MONITOR_INTERVAL)


async def _restart_instance(cluster: Cluster, instance: SoakInstance) -> None:
    started = cluster.clock()
    async with cluster.lock(instance.name):
        await trio.to_thread.run_sync(instance.restart)
        try:
            await trio.to_thread.run_sync(instance.wait_healthy)
        except (RuntimeError, TimeoutError) as exc:
            cluster.failures.append(f"instance {instance.name} after its own exit: {exc}")
    cluster.faults.append(Fault("unexpected_exit", instance.name, started, cluster.clock()))


async def sampler(cluster: Cluster, admin: httpx.AsyncClient) -> None:
    """Every half second, the live session actors of each instance."""
    while True:
        at = cluster.clock()
        live: dict[str, set[str]] = {}
        for instance in cluster.instances:
            if not instance.running:
                continue
            try:
                response = await admin.get(
                    f"{instance.base_url}/admin/actors", params={"kind": "session"}
                )
            except httpx.HTTPError:
                continue
            if response.status_code == 200:
                live[instance.name] = {a["id"] for a in response.json()["actors"]}
        cluster.samples.append(ActorSample(at, live))
        await trio.sleep(SAMPLE_INTERVAL)

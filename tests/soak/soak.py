"""The soak test: agents check out against several instances on one
Redis while faults are injected; after healing, everything is counted.

    setup    redis-server (AOF), the fake Stripe and the signing webhook receiver
             (in this trio run), N instances (INSTANCE_URL, INTERNAL_SECRET, ...)
    load     agents (`agents.py`) for `load_seconds`, faults (`faults.py`) on a
             seeded schedule, the process monitor and the actor sampler beside them
    heal     every instance /ready, Redis answering, the fakes' scripted errors gone;
             steps the agents gave up on are sent again (same key, same body)
    drain    until the outbox has nothing pending or in flight (bounded)
    count    from Redis itself, the admin API, the fake Stripe, the receiver and the
             logs; then `checks.py` says what does not hold

`run_soak` returns the problems and a summary; the short form is a pytest test
(`test_soak.py`), the long form `scripts/soak --minutes N` (`run.py`).
"""

from __future__ import annotations

import dataclasses
import json
import random
import shutil
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import redis
import trio

from agentic_commerce.store.redis.keys import HOLDS, stock_key
from tests.fakes.stripe_server import running_fake_stripe
from tests.soak import checks
from tests.soak.agents import HEADERS, Agent, AgentPlan, Ledger, resume
from tests.soak.faults import ADMIN_HEADERS, Cluster, Injector, monitor, sampler, schedule
from tests.soak.harness import (
    LAUNCH,
    LAUNCH_USES,
    WEBHOOK_SECRET,
    SoakInstance,
    SoakRedis,
    catalog,
    instance_env,
    log_entries,
    running_timed_receiver,
    stock_levels,
)
from tests.soak.records import (
    Delivery,
    LogLine,
    Observed,
    StockLevel,
    StoreOrder,
    StoreSession,
)

ORPHAN_HOLD_GRACE = 60.0  # the server's ORPHAN_HOLD_GRACE_SECONDS (expiry.py)
EXPIRY_SWEEP = 1.0  # EXPIRY_SWEEP_SECONDS given to the instances
COLLECT_CONCURRENCY = 8
WEBHOOK_LAG = 10.0  # order_create delivered this soon when nothing delays it


@dataclass
class SoakConfig:
    seed: int = 15
    load_seconds: float = 30.0
    agents: int = 4
    instances: int = 3
    # The short form's bounds keep it under 90 s even when a step never gets an answer.
    step_deadline: float = 15.0  # an agent retries one step this long at most
    resume_deadline: float = 10.0  # after healing, for steps given up on
    heal_timeout: float = 15.0
    drain_timeout: float = 20.0  # after healing the outbox empties this soon
    warmup: float = 3.0  # load without faults first
    quiet: float = 5.0  # and at the end
    fault_gap: tuple[float, float] = (1.5, 4.0)
    lease_ttl: float = 2.0
    redis_timeout: float = 1.0
    payment_timeout: float = 3.0
    session_ttl: int = 40
    gadget_stock: int = 100_000
    scarce_stock: int = 12
    launch_uses: int = 80  # fewer than the orders that send LAUNCH: its uses run out
    plan: AgentPlan = field(default_factory=AgentPlan)
    work_dir: Path | None = None
    keep_work_dir: bool = False
    server_src: str | None = None

    @property
    def bound_seconds(self) -> float:
        """No request may wait longer: LEASE_TTL + REDIS_TIMEOUT + PAYMENT_TIMEOUT + 2 s."""
        return self.lease_ttl + self.redis_timeout + self.payment_timeout + 2.0

    @classmethod
    def short(cls, seed: int = 15, **overrides: Any) -> SoakConfig:
        """The form that runs in the pytest suite (about a minute)."""
        return cls(seed=seed, **overrides)

    @classmethod
    def long(cls, minutes: float, seed: int = 15, **overrides: Any) -> SoakConfig:
        load = max(30.0, minutes * 60.0)
        values: dict[str, Any] = {
            "seed": seed,
            "load_seconds": load,
            "agents": 6,
            "step_deadline": 120.0,
            "resume_deadline": 90.0,
            "heal_timeout": 30.0,
            "quiet": 8.0,
            "session_ttl": 90,
            "scarce_stock": int(12 * load / 30),
            "launch_uses": int(80 * load / 30),
            **overrides,
        }
        return cls(**values)


@dataclass
class SoakResult:
    problems: list[checks.Problem]
    summary: str
    work_dir: Path
    observed: Observed

    def report(self) -> str:
        lines = [self.summary, "  fault timeline (soak seconds):"]
        lines += [
            f"    +{f.started:6.1f} .. +{f.ended:6.1f}  {f.kind} {f.target} {f.detail}".rstrip()
            for f in self.observed.faults
        ]
        lines += ["", f"{len(self.problems)} problem(s):"]
        lines += [f"  {p}" for p in self.problems]
        lines.append(f"work directory (logs): {self.work_dir}")
        return "\n".join(lines)


async def run_soak(config: SoakConfig) -> SoakResult:
    work_dir = config.work_dir or Path(tempfile.mkdtemp(prefix="acs-soak-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()

    def clock() -> float:
        return time.monotonic() - t0

    rng = random.Random(config.seed)
    catalog_file = work_dir / "catalog.json"
    initial = catalog(config.gadget_stock, config.scarce_stock, config.launch_uses)
    catalog_file.write_text(json.dumps(initial))
    observed = Observed(
        bound_seconds=config.bound_seconds,
        fault_grace_seconds=config.bound_seconds,
        lease_ttl=config.lease_ttl,
        orphan_hold_seconds=ORPHAN_HOLD_GRACE + 2 * EXPIRY_SWEEP + 5.0,
        webhook_lag_seconds=WEBHOOK_LAG,
    )
    (work_dir / "redis").mkdir(exist_ok=True)
    redis_server = SoakRedis(work_dir / "redis")
    await trio.to_thread.run_sync(redis_server.start)
    ledger = Ledger(clock)
    phases: dict[str, float] = {}
    instances: list[SoakInstance] = []
    agents: list[Agent] = []
    try:
        async with (
            running_fake_stripe() as fake,
            running_timed_receiver(WEBHOOK_SECRET, clock) as receiver,
            httpx.AsyncClient(headers=ADMIN_HEADERS, timeout=5) as admin,
        ):
            env = instance_env(
                redis_url=redis_server.url,
                lease_ttl=config.lease_ttl,
                redis_timeout=config.redis_timeout,
                payment_timeout=config.payment_timeout,
                stripe_url=fake.url,
                webhook_url=receiver.url,
                catalog_file=catalog_file,
                session_ttl=config.session_ttl,
            )
            instances = [
                SoakInstance("abcdefgh"[i], env, work_dir, config.server_src)
                for i in range(config.instances)
            ]
            cluster = Cluster(instances, redis_server, fake, receiver, clock)
            try:
                for instance in instances:
                    instance.start()
                for instance in instances:
                    await trio.to_thread.run_sync(instance.wait_healthy)
                phases["started"] = clock()

                def decline(token: str) -> None:
                    fake.outcomes[token] = "decline:card_declined"

                agents = [
                    Agent(
                        n,
                        config.seed,
                        instances,
                        ledger,
                        config.plan,
                        config.step_deadline,
                        config.bound_seconds + 5.0,
                        decline,
                    )
                    for n in range(config.agents)
                ]
                load_start = clock()
                load_end = load_start + config.load_seconds
                plan = schedule(
                    rng, load_start + config.warmup, load_end - config.quiet, config.fault_gap
                )
                async with trio.open_nursery() as background:
                    background.start_soon(monitor, cluster)
                    background.start_soon(sampler, cluster, admin)
                    injector = Injector(cluster, rng, admin)
                    async with trio.open_nursery() as load:
                        load.start_soon(injector.run, plan)
                        for agent in agents:
                            load.start_soon(agent.run, load_end)
                    phases["load_done"] = clock()

                    observed.healed, observed.heal_problem = await heal(
                        cluster, admin, config.heal_timeout
                    )
                    if cluster.failures:
                        observed.healed = False
                        observed.heal_problem += "; ".join(cluster.failures)
                    phases["healed"] = clock()
                    async with trio.open_nursery() as resumed:
                        for gave_up, step, n in ledger.unfinished:
                            resumed.start_soon(
                                resume, agents[gave_up.agent], step, gave_up, n,
                                config.resume_deadline,
                            )  # fmt: skip
                    phases["resumed"] = clock()
                    observed.outbox_counts = await drain(instances[0], admin, config)
                    phases["drained"] = clock()
                    background.cancel_scope.cancel()
                await collect(observed, redis_server, instances, admin, initial, rng)
                observed.intents = [dict(pi) for pi in fake.intents.values()]
                observed.deliveries = [
                    deliveries(d, receiver.accepted_at) for d in receiver.deliveries
                ]
                phases["counted"] = clock()
            finally:
                with trio.CancelScope(shield=True):  # no process outlives the soak
                    for agent in agents:
                        await agent.aclose()
                    for instance in instances:
                        instance.terminate()  # all at once: each may take its shutdown timeout
                    for instance in instances:
                        code = await trio.to_thread.run_sync(instance.stop)
                        observed.stop_codes[f"{instance.name}#{instance.incarnation}"] = code
                    fake.stop()
    except BaseException:
        print(f"soak: stopped before counting; logs in {work_dir}")
        raise
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(redis_server.stop)
    phases["stopped"] = clock()

    observed.exchanges = ledger.exchanges
    observed.gave_up = ledger.gave_up
    observed.unexpected_answers = ledger.unexpected
    observed.walked_away = ledger.walked_away
    observed.acked = ledger.acked
    observed.faults = cluster.faults
    observed.exits = cluster.exits
    observed.killed = cluster.killed
    observed.samples = cluster.samples
    for instance in instances:
        for incarnation, path in enumerate(instance.logs):
            observed.logs += [
                LogLine(instance.name, incarnation, text, entry)
                for text, entry in log_entries(path)
            ]
    problems = checks.run_checks(observed)
    result = SoakResult(
        problems, summarize(config, observed, ledger, cluster, phases), work_dir, observed
    )
    if not problems and not config.keep_work_dir and config.work_dir is None:
        shutil.rmtree(work_dir, ignore_errors=True)
    else:
        dump(observed, work_dir / "observed.jsonl")
    return result


# healing and draining ---------------------------------------------------------------


async def heal(cluster: Cluster, admin: httpx.AsyncClient, timeout: float) -> tuple[bool, str]:
    """Everything running again: every instance ready, Redis answering, the
    fakes' scripted errors gone. Waits on the conditions, bounded."""
    cluster.fake.faults.clear()
    cluster.receiver.script.clear()
    waiting: list[str] = []
    with trio.move_on_after(timeout):
        while True:
            waiting = []
            if not await trio.to_thread.run_sync(_redis_answers, cluster.redis):
                waiting.append("redis")
            for instance in cluster.instances:
                if not instance.running:
                    waiting.append(f"{instance.name} (not running)")
                    continue
                try:
                    ready = await admin.get(f"{instance.base_url}/ready")
                except httpx.HTTPError as exc:
                    waiting.append(f"{instance.name} ({type(exc).__name__})")
                    continue
                if ready.status_code != 200:
                    waiting.append(f"{instance.name} (/ready {ready.status_code})")
            if not waiting:
                return True, ""
            await trio.sleep(0.2)
    return False, f"not healed within {timeout:g}s: waiting for {', '.join(waiting)}"


def _redis_answers(server: SoakRedis) -> bool:
    try:
        with server.client() as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


async def drain(
    instance: SoakInstance, admin: httpx.AsyncClient, config: SoakConfig
) -> dict[str, int] | None:
    """Waits (bounded) until the outbox has nothing pending or in flight; its counts."""
    counts: dict[str, int] | None = None
    with trio.move_on_after(config.drain_timeout):
        while True:
            try:
                response = await admin.get(
                    f"{instance.base_url}/admin/webhooks", params={"limit": 1}
                )
                if response.status_code == 200:
                    counts = response.json()["counts"]
            except httpx.HTTPError:
                pass
            if counts is not None and not counts.get("pending") and not counts.get("in_flight"):
                return counts
            await trio.sleep(0.25)
    return counts


# counting -----------------------------------------------------------------------------


def _quantity(raw: Any) -> int:
    return int(float(raw))


def _store_session(doc: dict[str, Any]) -> StoreSession:
    wanted: Counter[str] = Counter()
    for line in doc.get("lines") or []:
        wanted[line["product_id"]] += _quantity(line["quantity"])
    order = None
    raw = doc.get("order")
    if raw:
        sold: Counter[str] = Counter()
        for line in raw.get("lines") or []:
            sold[line["product_id"]] += _quantity(line["quantity"])
        totals = {t["type"]: int(t["amount"]) for t in raw["totals"]}
        if totals.get("discount"):  # only LAUNCH takes off the order (see `catalog`)
            sold[LAUNCH_USES] += 1
        payment = raw.get("payment") or {}
        order = StoreOrder(
            doc["id"],
            raw["id"],
            totals["total"],
            str(payment.get("reference")),
            int(payment.get("amount") or 0),
            dict(sold),
        )
    return StoreSession(doc["id"], doc["status"], dict(wanted), order)


def read_store(
    server: SoakRedis, initial: dict[str, Any]
) -> tuple[dict[str, StoreSession], dict[str, str], list[StockLevel], dict[str, float]]:
    """Sessions, order pointers, stock and hold ages, straight from Redis."""
    with server.client() as r:
        sessions: dict[str, StoreSession] = {}
        for key in r.scan_iter(match="acs:{*}:session", count=500):
            doc = r.hget(key, "doc")
            if doc is not None:
                session = _store_session(orjson.loads(doc))
                sessions[session.id] = session
        pointers = {
            key.decode().removeprefix("acs:order:"): (r.get(key) or b"").decode()
            for key in r.scan_iter(match="acs:order:*", count=500)
        }
        stock = []
        for key, units in stock_levels(initial).items():
            raw = {k.decode(): int(v) for k, v in r.hgetall(stock_key(key)).items()}
            stock.append(
                StockLevel(
                    key,
                    units,
                    raw.get("on_hand", 0),
                    raw.get("reserved", 0),
                    {k.removeprefix("h:"): v for k, v in raw.items() if k.startswith("h:")},
                )
            )
        now = time.time()
        ages = {h.decode(): now - score for h, score in r.zrange(HOLDS, 0, -1, withscores=True)}
    return sessions, pointers, stock, ages


async def collect(
    observed: Observed,
    server: SoakRedis,
    instances: list[SoakInstance],
    admin: httpx.AsyncClient,
    initial: dict[str, Any],
    rng: random.Random,
) -> None:
    (
        observed.sessions,
        observed.order_pointers,
        observed.stock,
        observed.hold_ages,
    ) = await trio.to_thread.run_sync(read_store, server, initial)
    orders = [s.order.order_id for s in observed.sessions.values() if s.order is not None]
    sessions = sorted(observed.sessions)
    limiter = trio.CapacityLimiter(COLLECT_CONCURRENCY)

    async def admin_order(order_id: str, instance: SoakInstance) -> None:
        async with limiter:
            try:
                response = await admin.get(f"{instance.base_url}/admin/orders/{order_id}")
                observed.admin_orders[order_id] = response.status_code
            except httpx.HTTPError:
                observed.admin_orders[order_id] = -1

    async def read(api: httpx.AsyncClient, sid: str, instance: SoakInstance) -> None:
        async with limiter:
            try:
                response = await api.get(f"{instance.base_url}/checkout_sessions/{sid}")
            except httpx.HTTPError:
                observed.reads.append((sid, -1, None, None))
                return
        body = response.json() if response.status_code == 200 else {}
        order = body.get("order") or {}
        observed.reads.append((sid, response.status_code, body.get("status"), order.get("id")))

    async with (
        httpx.AsyncClient(headers=HEADERS, timeout=10) as api,
        trio.open_nursery() as nursery,
    ):
        for order_id in orders:
            nursery.start_soon(admin_order, order_id, rng.choice(instances))
        for sid in sessions:
            nursery.start_soon(read, api, sid, rng.choice(instances))
    moved = [sid for sid, _, status, _ in observed.reads if status != observed.sessions[sid].status]
    if moved:
        observed.later_status = await trio.to_thread.run_sync(statuses_now, server, moved)


def statuses_now(server: SoakRedis, session_ids: list[str]) -> dict[str, str]:
    with server.client() as r:
        docs = [r.hget(f"acs:{{{sid}}}:session", "doc") for sid in session_ids]
    return {
        sid: str(orjson.loads(doc)["status"])
        for sid, doc in zip(session_ids, docs, strict=True)
        if doc is not None
    }


def deliveries(d: Any, accepted_at: dict[str, float]) -> Delivery:
    body = d.body if isinstance(d.body, dict) else {}
    data = body.get("data") or {}
    event_id = d.headers.get("webhook-event-id")
    return Delivery(
        event_id,
        body.get("type"),
        data.get("id"),
        data.get("checkout_session_id"),
        d.status,
        d.signature_ok,
        accepted_at.get(event_id or ""),
    )


def dump(observed: Observed, path: Path) -> None:
    """Every request and fault as JSON lines (kept with the logs) for a closer look."""
    with path.open("wb") as out:
        for fault in observed.faults:
            out.write(orjson.dumps({"fault": dataclasses.asdict(fault)}) + b"\n")
        for exchange in observed.exchanges:
            out.write(orjson.dumps({"exchange": dataclasses.asdict(exchange)}) + b"\n")
        for order in observed.acked.values():
            out.write(orjson.dumps({"acked": dataclasses.asdict(order)}) + b"\n")
        for delivery in observed.deliveries:
            out.write(orjson.dumps({"delivery": dataclasses.asdict(delivery)}) + b"\n")


# the summary --------------------------------------------------------------------------


def summarize(
    config: SoakConfig,
    o: Observed,
    ledger: Ledger,
    cluster: Cluster,
    phases: dict[str, float],
) -> str:
    xs = o.exchanges
    statuses = Counter(x.status for x in xs)
    five = Counter(x.status for x in xs if x.status >= 500)
    in_flight = sum(1 for x in xs if x.status == 409 and x.code == "idempotency_in_flight")
    transport = Counter(x.error for x in xs if x.status == 0)
    retries = sum(1 for x in xs if x.retryable)
    latencies = sorted(x.seconds for x in xs) or [0.0]
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    faults = Counter(f.kind for f in o.faults)
    orders = sum(1 for s in o.sessions.values() if s.order is not None)
    creates = [d for d in o.deliveries if d.event_type == "order_create" and d.status == 200]
    succeeded = sum(1 for pi in o.intents if pi.get("status") == "succeeded")
    stock = ", ".join(
        f"{s.product}: {s.initial} -> on hand {s.on_hand}, reserved {s.reserved}" for s in o.stock
    )
    launched = sum(
        s.order.sold.get(LAUNCH_USES, 0) for s in o.sessions.values() if s.order is not None
    )
    crashes_allowed = sum(
        1
        for line in o.logs
        if line.entry is not None and line.entry.get("event") == "actor_crashed"
    )
    timeline = ", ".join(f"{k} {v:.1f}s" for k, v in phases.items())
    lines = [
        f"soak: seed {config.seed}, {config.instances} instances, {config.agents} agents, "
        f"load {config.load_seconds:g}s; {timeline}",
        f"  checkouts: {sum(a for a in ledger.outcomes.values())} ended "
        f"({', '.join(f'{k} {v}' for k, v in sorted(ledger.outcomes.items()))}); "
        f"{len(ledger.sessions)} sessions",
        f"  orders: {len(o.acked)} acknowledged "
        f"({sum(a.late for a in o.acked.values())} only after healing), {orders} in the store, "
        f"{len({d.order_id for d in creates})} with order_create delivered "
        f"({len(creates)} deliveries, {len(o.deliveries)} webhook POSTs in all); "
        f"{succeeded} succeeded charges of {len(o.intents)} PaymentIntents",
        f"  requests: {len(xs)}, retried {retries}; statuses "
        f"{dict(sorted(statuses.items()))}; 5xx {dict(sorted(five.items()))}; "
        f"409 in flight {in_flight}; no answer {dict(transport)}",
        f"  latency: max {latencies[-1]:.2f}s, p99 {p99:.2f}s, median "
        f"{statistics.median(latencies):.3f}s (bound {o.bound_seconds:g}s)",
        f"  faults: {len(o.faults)} ({', '.join(f'{k} {v}' for k, v in sorted(faults.items()))});"
        f" skipped {cluster.skipped or 'none'}; exits {len(o.exits)} "
        f"({sum(not e.expected for e in o.exits)} unexpected); "
        f"actor_crashed lines {crashes_allowed}",
        f"  stock: {stock}",
        f"  {LAUNCH}: {launched} orders of at most {config.launch_uses}; agents walked away "
        f"from {len(o.walked_away)} declined session(s)",
        f"  gave up: {len(o.gave_up)} ({sum(g.resolved for g in o.gave_up)} resolved after "
        f"healing); outbox after drain {o.outbox_counts}",
    ]
    return "\n".join(lines)

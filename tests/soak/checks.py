"""The soak's invariants, as pure functions of what it observed (`records.Observed`).

Each check returns the problems it found (empty: it holds). `tests/soak/test_checks.py`
feeds each one data that breaks it, so none of them can pass vacuously.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tests.soak.records import IN_FLIGHT, RETRYABLE_5XX, Exchange, Fault, Observed

CRASH_EVENTS = frozenset({"actor_crashed", "supervisor_escalated", "unhandled_error"})
FAILURE_LEVELS = frozenset({"error", "critical"})
OPEN_STATUSES = frozenset(
    {"not_ready_for_payment", "ready_for_payment", "in_progress", "authentication_required"}
)
SHOWN = 8  # examples per problem
# A fault cuts off a store call under way while in effect, and this soon after (a
# stale Redis connection, a service actor being restarted).
CUT_GRACE = 1.0


@dataclass(frozen=True)
class Problem:
    check: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.check}] {self.detail}"


def _examples(items: Iterable[object]) -> str:
    items = list(items)
    shown = "; ".join(str(i) for i in items[:SHOWN])
    return shown + (f"; ... ({len(items)} in all)" if len(items) > SHOWN else "")


def _describe(x: Exchange) -> str:
    what = x.error if x.status == 0 else f"{x.status} {x.code or ''}".strip()
    return (
        f"agent {x.agent} checkout {x.checkout} {x.step} on {x.instance} "
        f"at +{x.started:.2f}s took {x.seconds:.2f}s: {what}"
    )


# orders, webhooks, charges ------------------------------------------------------


def check_orders(o: Observed) -> list[Problem]:
    """Acknowledged orders = orders in the store (each readable by the admin API)."""
    problems = []
    stored = {s.id: s.order for s in o.sessions.values() if s.order is not None}
    missing = [a for sid, a in o.acked.items() if sid not in stored]
    if missing:
        problems.append(
            Problem(
                "orders.acknowledged_in_store",
                f"{len(missing)} acknowledged order(s) not in the store: "
                + _examples(f"{a.order_id} of {a.session_id}" for a in missing),
            )
        )
    differ = [
        (a, order)
        for sid, a in o.acked.items()
        if (order := stored.get(sid)) is not None
        and (order.order_id != a.order_id or order.total != a.total)
    ]
    if differ:
        problems.append(
            Problem(
                "orders.acknowledged_in_store",
                f"{len(differ)} stored order(s) differ from the acknowledged one: "
                + _examples(
                    f"{a.session_id}: acked {a.order_id}/{a.total}, stored {s.order_id}/{s.total}"
                    for a, s in differ
                ),
            )
        )
    unacked = [order for sid, order in stored.items() if sid not in o.acked]
    if unacked:
        problems.append(
            Problem(
                "orders.store_acknowledged",
                f"{len(unacked)} order(s) in the store that no agent was told about: "
                + _examples(f"{s.order_id} of {s.session_id}" for s in unacked),
            )
        )
    unreadable = {oid: status for oid, status in o.admin_orders.items() if status != 200}
    if unreadable:
        problems.append(
            Problem(
                "orders.admin_api",
                f"GET /admin/orders/{{id}} did not answer 200 for {len(unreadable)} order(s): "
                + _examples(f"{oid}: {status}" for oid, status in unreadable.items()),
            )
        )
    dangling = [
        oid
        for s in stored.values()
        if s is not None and (oid := s.order_id) and o.order_pointers.get(oid) != s.session_id
    ]
    if dangling:
        problems.append(
            Problem(
                "orders.index",
                f"{len(dangling)} order(s) without their order-id pointer: " + _examples(dangling),
            )
        )
    return problems


def check_webhooks(o: Observed) -> list[Problem]:
    """Every delivery signed; exactly one distinct order_create event per order,
    for an order that exists (redeliveries of the same event id are allowed)."""
    problems = []
    unsigned = [d for d in o.deliveries if not d.signature_ok]
    if unsigned:
        problems.append(
            Problem(
                "webhooks.signature",
                f"{len(unsigned)} delivery(ies) with an invalid signature: "
                + _examples(f"{d.event_type} {d.event_id}" for d in unsigned),
            )
        )
    creates: dict[str, set[str | None]] = defaultdict(set)  # order id -> event ids
    sessions_of: dict[str, set[str | None]] = defaultdict(set)
    for d in o.deliveries:
        if d.status == 200 and d.signature_ok and d.event_type == "order_create":
            creates[d.order_id or ""].add(d.event_id)
            sessions_of[d.order_id or ""].add(d.session_id)
    orders = {s.order.order_id: s.id for s in o.sessions.values() if s.order is not None}
    missing = [oid for oid in orders if oid not in creates]
    if missing:
        acked_at = {a.order_id: a.at for a in o.acked.values()}
        problems.append(
            Problem(
                "webhooks.order_create",
                f"{len(missing)} order(s) without a delivered order_create: "
                + _examples(
                    f"{oid} (acknowledged at +{acked_at[oid]:.1f}s)" if oid in acked_at else oid
                    for oid in missing
                ),
            )
        )
    unknown = [oid for oid in creates if oid not in orders]
    if unknown:
        problems.append(
            Problem(
                "webhooks.order_create",
                f"order_create delivered for {len(unknown)} order(s) not in the store: "
                + _examples(unknown),
            )
        )
    twice = {oid: ids for oid, ids in creates.items() if len(ids) > 1}
    if twice:
        problems.append(
            Problem(
                "webhooks.order_create",
                f"{len(twice)} order(s) with more than one distinct order_create event: "
                + _examples(f"{oid}: {sorted(map(str, ids))}" for oid, ids in twice.items()),
            )
        )
    wrong = {
        oid: sids for oid, sids in sessions_of.items() if oid in orders and sids != {orders[oid]}
    }
    if wrong:
        problems.append(
            Problem(
                "webhooks.order_create",
                f"{len(wrong)} order_create(s) naming another session: "
                + _examples(f"{oid}: {sids}" for oid, sids in wrong.items()),
            )
        )
    return problems


def check_webhook_lag(o: Observed) -> list[Problem]:
    """An order's order_create is accepted within `webhook_lag_seconds` of the
    order's acknowledgment, unless a fault that delays deliveries overlapped."""
    accepted: dict[str, float] = {}
    for d in o.deliveries:
        if d.event_type == "order_create" and d.order_id and d.accepted_at is not None:
            accepted[d.order_id] = min(accepted.get(d.order_id, d.accepted_at), d.accepted_at)
    limit = o.webhook_lag_seconds
    delaying = [f for f in o.faults if f.delays_webhooks]
    late = []
    for a in o.acked.values():
        at = accepted.get(a.order_id)
        if at is None or at - a.at <= limit:
            continue
        if any(f.started <= a.at + limit and f.ended >= a.at - 1.0 for f in delaying):
            continue
        late.append(f"{a.order_id} (acked at +{a.at:.1f}s) after {at - a.at:.1f}s")
    if not late:
        return []
    return [
        Problem(
            "webhooks.lag",
            f"{len(late)} order_create(s) accepted more than {limit:g}s after the order, with "
            "no fault in the way: " + _examples(late),
        )
    ]


def check_charges(o: Observed) -> list[Problem]:
    """One succeeded PaymentIntent per order, of its amount; none for a session
    without an order."""
    problems = []
    succeeded: dict[str, list[dict[str, object]]] = defaultdict(list)
    for intent in o.intents:
        if intent.get("status") == "succeeded":
            metadata = intent.get("metadata") or {}
            assert isinstance(metadata, dict)
            succeeded[str(metadata.get("checkout_session_id"))].append(intent)
    orders = {s.id: s.order for s in o.sessions.values() if s.order is not None}
    counts = Counter({sid: len(succeeded.get(sid, [])) for sid in orders})
    not_one = {sid: n for sid, n in counts.items() if n != 1}
    if not_one:
        problems.append(
            Problem(
                "charges.one_per_order",
                f"{len(not_one)} order(s) without exactly one succeeded charge: "
                + _examples(f"{sid}: {n}" for sid, n in not_one.items()),
            )
        )
    mismatched = []
    for sid, order in orders.items():
        intents = succeeded.get(sid, [])
        if len(intents) == 1:
            intent = intents[0]
            if intent.get("id") != order.payment_reference or intent.get("amount") != order.total:
                mismatched.append(
                    f"{sid}: intent {intent.get('id')}/{intent.get('amount')}, order pays "
                    f"{order.payment_reference}/{order.total}"
                )
    if mismatched:
        problems.append(Problem("charges.one_per_order", _examples(mismatched)))
    orphans = {sid: len(intents) for sid, intents in succeeded.items() if sid not in orders}
    if orphans:
        problems.append(
            Problem(
                "charges.without_order",
                f"{len(orphans)} session(s) charged without an order: "
                + _examples(f"{sid}: {n}" for sid, n in orphans.items()),
            )
        )
    return problems


# stock -----------------------------------------------------------------------------


def check_stock(o: Observed) -> list[Problem]:
    """Per stock key, a product or a promotion's uses (an order that applied the
    promotion took one use): initial = on hand + sold - (units of completed sessions
    not yet taken off the shelf), and never more sold than there were; reserved = the
    sum of the holds; nothing negative; a hold belongs to an open session that wants
    it (a use only while its complete runs: at rest, none), or a completed one whose
    sale is pending, except for a hold younger than the orphan grace, left by a create
    that never committed, and a use a fault kept a declined complete from giving back
    (it goes back when the session ends)."""
    problems = []
    for level in o.stock:
        p = level.product
        sold = sum(s.order.sold.get(p, 0) for s in o.sessions.values() if s.order is not None)
        pending_sale = sum(
            units
            for holder, units in level.holds.items()
            if (s := o.sessions.get(holder)) is not None and s.order is not None
        )
        if level.on_hand + sold - pending_sale != level.initial:
            problems.append(
                Problem(
                    "stock.conservation",
                    f"{p}: initial {level.initial} != on hand {level.on_hand} + sold {sold} "
                    f"- held by completed sessions {pending_sale}",
                )
            )
        if sold > level.initial:
            problems.append(
                Problem("stock.oversold", f"{p}: {sold} sold, of {level.initial} there were")
            )
        if sum(level.holds.values()) != level.reserved:
            problems.append(
                Problem(
                    "stock.reserved",
                    f"{p}: reserved {level.reserved} != sum of holds {sum(level.holds.values())}",
                )
            )
        negative = [
            f"{name} {value}"
            for name, value in (
                ("on_hand", level.on_hand),
                ("reserved", level.reserved),
                ("available", level.on_hand - level.reserved),
                *((f"hold of {h}", units) for h, units in level.holds.items()),
            )
            if value < 0 or (name.startswith("hold") and value == 0)
        ]
        if negative:
            problems.append(Problem("stock.negative", f"{p}: " + ", ".join(negative)))
        stale, over = [], []
        for holder, units in level.holds.items():
            s = o.sessions.get(holder)
            if s is not None and s.status in OPEN_STATUSES:
                if units > s.wanted.get(p, 0) and not _release_cut(o, holder):
                    over.append(f"{holder} holds {units}, wants {s.wanted.get(p, 0)}")
                continue
            if s is not None and s.order is not None:
                continue  # sale pending: counted above
            age = o.hold_ages.get(holder, float("inf"))
            if age > o.orphan_hold_seconds:
                state = "no session" if s is None else s.status
                stale.append(f"{holder} ({state}) holds {units} for {age:.0f}s")
        if stale:
            problems.append(
                Problem(
                    "stock.stale_holds", f"{p}: units held by no open session: " + _examples(stale)
                )
            )
        if over:
            problems.append(Problem("stock.over_held", f"{p}: " + _examples(over)))
    return problems


def _release_cut(o: Observed, session_id: str) -> bool:
    """Whether the session was left after a declined complete that a fault may have
    cut off before it gave its promotion uses back (a best effort: they go back when
    the session ends). A kill of session actors cuts off only the killed ones."""
    key = o.walked_away.get(session_id)
    if key is None:
        return False
    killed = set().union(*o.killed.values())
    cutting = [
        f for f in o.faults if f.cuts_holds and (f.kind != "kill_sessions" or session_id in killed)
    ]
    return any(_in_window(x, cutting, CUT_GRACE) for x in o.exchanges if x.key == key)


# answers ---------------------------------------------------------------------------


def _in_window(x: Exchange, faults: Iterable[Fault], grace: float) -> bool:
    return any(x.ended >= f.started and x.started <= f.ended + grace for f in faults)


def check_answers(o: Observed) -> list[Problem]:
    """5xx only 502/503, each with Retry-After, each during (or within the grace
    after) a fault; lost connections only while an instance was down; every body
    valid against the schema; no answer an agent could not expect."""
    problems = []
    five = [x for x in o.exchanges if x.status >= 500]
    bad_status = [x for x in five if x.status not in RETRYABLE_5XX]
    if bad_status:
        problems.append(
            Problem(
                "errors.5xx_status",
                f"{len(bad_status)} answer(s) 5xx other than 502/503: "
                + _examples(map(_describe, bad_status)),
            )
        )
    no_retry_after = [x for x in five if x.status in RETRYABLE_5XX and not _seconds(x.retry_after)]
    if no_retry_after:
        problems.append(
            Problem(
                "errors.retry_after",
                f"{len(no_retry_after)} 502/503 answer(s) without a valid Retry-After: "
                + _examples(map(_describe, no_retry_after)),
            )
        )
    outside = [x for x in five if not _in_window(x, o.faults, o.fault_grace_seconds)]
    if outside:
        problems.append(
            Problem(
                "errors.5xx_outside_fault",
                f"{len(outside)} 5xx answer(s) more than {o.fault_grace_seconds:g}s away from "
                "any fault: " + _examples(map(_describe, outside)),
            )
        )
    down = [f for f in o.faults if f.takes_instance_down]
    lost = [
        x for x in o.exchanges if x.status == 0 and not _in_window(x, down, o.fault_grace_seconds)
    ]
    if lost:
        problems.append(
            Problem(
                "errors.transport_outside_fault",
                f"{len(lost)} request(s) without an answer while every instance was up: "
                + _examples(map(_describe, lost)),
            )
        )
    invalid = [x for x in o.exchanges if x.schema_error]
    if invalid:
        problems.append(
            Problem(
                "answers.schema",
                f"{len(invalid)} body(ies) invalid against the schema: "
                + _examples(f"{_describe(x)}: {x.schema_error}" for x in invalid),
            )
        )
    if o.unexpected_answers:
        problems.append(
            Problem(
                "answers.unexpected",
                f"{len(o.unexpected_answers)} final answer(s) an agent could not expect: "
                + _examples(o.unexpected_answers),
            )
        )
    return problems


def _seconds(value: str | None) -> bool:
    return value is not None and value.strip().isdigit()


def check_latency(o: Observed) -> list[Problem]:
    slow = sorted((x for x in o.exchanges if x.seconds > o.bound_seconds), key=lambda x: -x.seconds)
    if not slow:
        return []
    return [
        Problem(
            "latency.bound",
            f"{len(slow)} request(s) took longer than {o.bound_seconds:g}s: "
            + _examples(map(_describe, slow)),
        )
    ]


def check_in_flight(o: Observed) -> list[Problem]:
    """A key answers 409 idempotency_in_flight only while its first request runs,
    which is bounded like any request (plus one Retry-After between retries)."""
    by_key: dict[str, list[Exchange]] = defaultdict(list)
    for x in o.exchanges:
        if x.status == 409 and x.code == IN_FLIGHT:
            by_key[x.key].append(x)
    limit = o.bound_seconds + 2.0
    long = []
    for key, xs in by_key.items():
        span = max(x.ended for x in xs) - min(x.started for x in xs)
        if span > limit:
            first = min(xs, key=lambda x: x.started)
            long.append(
                f"{key} ({first.step}, agent {first.agent}): {len(xs)} answers over {span:.1f}s "
                f"from +{first.started:.1f}s"
            )
    if not long:
        return []
    return [
        Problem(
            "idempotency.in_flight_streak",
            f"{len(long)} key(s) answered 409 idempotency_in_flight for longer than "
            f"{limit:g}s: " + _examples(long),
        )
    ]


def check_agents(o: Observed) -> list[Problem]:
    if not o.gave_up:
        return []
    return [
        Problem(
            "agents.gave_up",
            f"{len(o.gave_up)} step(s) got no final answer within the agent's deadline "
            f"({sum(g.resolved for g in o.gave_up)} answered when resumed after healing): "
            + _examples(
                f"agent {g.agent} checkout {g.checkout} {g.step} key {g.key}: {g.last}"
                for g in o.gave_up
            ),
        )
    ]


# processes and logs ----------------------------------------------------------------


def check_processes(o: Observed) -> list[Problem]:
    problems = []
    own = [e for e in o.exits if not e.expected]
    if own:
        problems.append(
            Problem(
                "processes.exits",
                f"{len(own)} process exit(s) the soak did not cause: "
                + _examples(
                    f"{e.name}#{e.incarnation} exited {e.code} at +{e.at:.1f}s\n{e.log_tail}"
                    for e in own
                ),
            )
        )
    unclean = {name: code for name, code in o.stop_codes.items() if code != 0}
    if unclean:
        problems.append(
            Problem(
                "processes.stop_status",
                "SIGTERM at the end did not exit 0: "
                + _examples(f"{name}: {code}" for name, code in unclean.items()),
            )
        )
    if not o.healed:
        problems.append(Problem("processes.healed", o.heal_problem))
    return problems


def check_logs(o: Observed) -> list[Problem]:
    """No crash, escalation, 500 or error line, except the crash of an actor the
    soak killed (through the admin API) on that very process."""
    unexpected = []
    for line in o.logs:
        entry = line.entry
        where = f"{line.instance}#{line.incarnation}"
        if entry is None:
            if "Traceback" in line.text or any(e in line.text for e in CRASH_EVENTS):
                unexpected.append(f"{where}: {line.text[:300]}")
            continue
        event = entry.get("event")
        if event == "actor_crashed" and entry.get("error") == "ActorKilled":
            actor = entry.get("actor") or entry.get("child")
            if actor in o.killed.get((line.instance, line.incarnation), set()):
                continue
        if event in CRASH_EVENTS or str(entry.get("level", "")).lower() in FAILURE_LEVELS:
            shown = {k: v for k, v in entry.items() if k not in ("exception", "timestamp")}
            text = f"{where}: {shown}"
            if "exception" in entry:
                text += " " + str(entry["exception"])[-600:].replace("\n", " | ")
            unexpected.append(text)
    if not unexpected:
        return []
    return [
        Problem(
            "logs.crashes",
            f"{len(unexpected)} unexpected crash/error line(s): " + _examples(unexpected),
        )
    ]


# the cluster -----------------------------------------------------------------------


def check_split_brain(o: Observed) -> list[Problem]:
    """One live actor per session cluster-wide: a session live on two instances
    at once for longer than a lease (a move in progress) is a split brain."""
    limit = 2 * o.lease_ttl + 1.0
    since: dict[str, float] = {}
    worst: dict[str, float] = {}
    for sample in sorted(o.samples, key=lambda s: s.at):
        seen = Counter(sid for sids in sample.live.values() for sid in sids)
        doubled = {sid for sid, n in seen.items() if n > 1}
        for sid in list(since):
            if sid not in doubled:
                del since[sid]
        for sid in doubled:
            start = since.setdefault(sid, sample.at)
            worst[sid] = max(worst.get(sid, 0.0), sample.at - start)
    long = {sid: s for sid, s in worst.items() if s > limit}
    if not long:
        return []
    return [
        Problem(
            "cluster.split_brain",
            f"{len(long)} session(s) live on two instances for more than {limit:g}s: "
            + _examples(f"{sid}: {s:.1f}s" for sid, s in long.items()),
        )
    ]


def check_outbox(o: Observed) -> list[Problem]:
    counts = o.outbox_counts
    if counts is None:
        return [Problem("outbox.drained", "the outbox counts could not be read")]
    left = {k: v for k, v in counts.items() if k != "delivered" and v}
    if left:
        return [Problem("outbox.drained", f"after the drain the outbox still has {left}")]
    return []


def check_reads(o: Observed) -> list[Problem]:
    """After healing, every session reads through the API as the store has it."""
    wrong = []
    for sid, status, api_status, api_order in o.reads:
        stored = o.sessions.get(sid)
        if stored is None:
            wrong.append(f"{sid}: answered {status}, not in the store")
            continue
        order = stored.order.order_id if stored.order is not None else None
        statuses = {stored.status, o.later_status.get(sid, stored.status)}
        if status != 200 or api_status not in statuses or api_order != order:
            wrong.append(
                f"{sid}: API {status} {api_status} {api_order}, store {stored.status} {order}"
            )
    if not wrong:
        return []
    return [Problem("reads.consistent", f"{len(wrong)} session(s): " + _examples(wrong))]


CHECKS: tuple[Callable[[Observed], list[Problem]], ...] = (
    check_orders,
    check_webhooks,
    check_webhook_lag,
    check_charges,
    check_stock,
    check_answers,
    check_latency,
    check_in_flight,
    check_agents,
    check_processes,
    check_logs,
    check_split_brain,
    check_outbox,
    check_reads,
)


def run_checks(o: Observed) -> list[Problem]:
    return [problem for check in CHECKS for problem in check(o)]

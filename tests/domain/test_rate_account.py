"""The local rate-limit account (`domain/rate_account.py`): exact on one instance,
never counting a request twice when instances settle, bounded in memory, and the
inequality behind the README's bound across instances, checked on a model of
instances settling through a shared table (what the stores do: `Batch.applied_to`,
whose Redis twin tests/store/test_contract.py checks to the bit)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import example, given
from hypothesis import strategies as st

from agentic_commerce.domain.rate_account import Batch, RateAccount
from agentic_commerce.domain.rate_limit import Decision, Limit, decide

KEY = "merchant:m"
NOW = 1_000_000.0


@dataclass(eq=False)
class Request:
    instance: int
    at: float
    known: int  # the last application its instance had merged when it was judged
    applied: int | None = None  # the application that brought it to the shared bucket


@dataclass
class Instance:
    account: RateAccount = field(default_factory=RateAccount)
    pending: list[Request] = field(default_factory=list)  # what the account's batch holds
    sent: list[Request] | None = None  # drained, not applied yet
    batches: dict[str, Batch] = field(default_factory=dict)  # the account's drained batches
    reply: tuple[dict[str, float], int] | None = None  # applied (as of which), not merged
    known: int = 0


class Model:
    """Instances judging requests on their own accounts and settling in three steps
    (drain, apply at the store, merge the reply), each interleaved with the others'
    steps and with requests; a settlement may fail before it is applied."""

    def __init__(self, instances: int, limit: Limit) -> None:
        self.limit = limit
        self.instances = [Instance() for _ in range(instances)]
        self.shared: dict[str, float] = {}
        self.applications = 0
        self.now = NOW
        self.admitted: list[Request] = []  # in the order they were judged
        self.application_order: list[Request] = []

    def request(self, i: int, step: float) -> Decision:
        self.now += step
        me = self.instances[i]
        decision = me.account.admit(KEY, self.limit, self.now)
        if decision.allowed:
            request = Request(i, self.now, me.known)
            me.pending.append(request)
            self.admitted.append(request)
        return decision

    def drain(self, i: int) -> None:
        me = self.instances[i]
        if me.sent is None and me.reply is None:
            me.batches = me.account.drain()
            assert me.batches == ({KEY: batch_of(me.pending, self.limit)} if me.pending else {})
            me.sent, me.pending = me.pending, []

    def apply(self, i: int) -> None:
        me = self.instances[i]
        if me.sent is not None:
            self.applications += 1
            for request in me.sent:
                request.applied = self.applications
            self.application_order += me.sent
            for key, batch in me.batches.items():
                self.shared[key] = batch.applied_to(self.shared.get(key))
            me.sent, me.reply = None, (dict(self.shared), self.applications)

    def fail(self, i: int) -> None:
        me = self.instances[i]
        if me.sent is not None:
            me.account.restore(me.batches)
            me.pending, me.sent = me.sent + me.pending, None

    def merge(self, i: int) -> None:
        me = self.instances[i]
        if me.reply is not None:
            shared, me.known = me.reply
            me.account.merge(shared)
            me.reply = None
            me.account.prune(self.now)

    def settle(self, i: int) -> None:
        """A whole round, when none is under way."""
        if self.instances[i].sent is None and self.instances[i].reply is None:
            self.drain(i)
            self.apply(i)
            self.merge(i)

    def settle_everything(self) -> None:
        """Every settlement finished, then one more round each: all is settled and
        everyone has merged the last word (no pruning after it)."""
        for i in range(len(self.instances)):
            self.apply(i)
            self.merge(i)
            self.drain(i)
            self.apply(i)
            self.merge(i)
        for i, instance in enumerate(self.instances):
            self.drain(i)
            self.apply(i)
            assert instance.reply is not None
            instance.account.merge(instance.reply[0])
            instance.reply = None


def batch_of(requests: list[Request], limit: Limit) -> Batch:
    """The batch of these requests, built one at a time."""
    first, *rest = [Batch.one(limit.interval, request.at) for request in requests]
    for one in rest:
        first = first.then(one)
    return first


def counted_once(requests: list[Request], interval: float) -> float | None:
    """One bucket counting each request once, in this order, at its own time."""
    tat: float | None = None
    for request in requests:
        tat = max(tat if tat is not None else request.at, request.at) + interval
    return tat


LIMITS = st.builds(Limit, st.sampled_from([7, 30, 60, 120]), st.integers(1, 4))
STEPS = st.sampled_from([0.0, 0.0, 0.0, 0.125, 0.25, 1.0, 20.0])


def operations(instances: int) -> st.SearchStrategy[list[tuple[str, int, float]]]:
    one = st.tuples(
        st.sampled_from(["request"] * 4 + ["settle"] * 2 + ["drain", "apply", "fail", "merge"]),
        st.integers(0, instances - 1),
        STEPS,
    )
    return st.lists(one, max_size=80)


def run(model: Model, ops: list[tuple[str, int, float]]) -> list[tuple[float, Decision]]:
    decisions = []
    for op, i, step in ops:
        if op == "request":
            decisions.append((model.now + step, model.request(i, step)))
        else:
            getattr(model, op)(i)
    return decisions


# -- one instance: exact -------------------------------------------------------------


@given(LIMITS, operations(1))
def test_one_instance_decides_exactly_as_one_bucket(
    limit: Limit, ops: list[tuple[str, int, float]]
) -> None:
    model = Model(1, limit)
    tat = None
    for at, decision in run(model, ops):
        expected, tat = decide(limit, tat, at)
        assert decision == expected
    model.settle_everything()
    assert model.shared.get(KEY) == counted_once(model.admitted, limit.interval)


def test_a_peek_counts_nothing_and_foretells_the_admission() -> None:
    account, limit = RateAccount(), Limit(per_minute=10, burst=2)
    seen = []
    for _ in range(4):
        peeked = account.peek(KEY, limit, NOW)
        assert account.peek(KEY, limit, NOW) == peeked
        assert account.admit(KEY, limit, NOW) == peeked
        seen.append(peeked.allowed)
    assert seen == [True, True, False, False]
    assert account.peek(KEY, limit, NOW + 6).allowed


# -- several instances: each request counted once -------------------------------------


@given(LIMITS, st.integers(2, 3), st.data())
def test_settled_instances_count_each_request_once(
    limit: Limit, instances: int, data: st.DataObject
) -> None:
    model = Model(instances, limit)
    run(model, data.draw(operations(instances)))
    model.settle_everything()
    once = counted_once(model.application_order, limit.interval)
    assert sorted(map(id, model.application_order)) == sorted(map(id, model.admitted))
    assert model.shared.get(KEY) == once
    for instance in model.instances:
        assert instance.account.tat(KEY) == once


def test_merging_again_changes_nothing() -> None:
    limit = Limit(per_minute=60, burst=5)
    one, two, shared = RateAccount(), RateAccount(), {}
    for _ in range(3):
        one.admit(KEY, limit, NOW)
    shared[KEY] = one.drain()[KEY].applied_to(None)
    for _ in range(3):  # the same reply, and empty settlements: nothing more is counted
        one.merge(shared)
        assert one.drain() == {}
    assert one.tat(KEY) == shared[KEY] == NOW + 3
    two.merge(shared)
    two.admit(KEY, limit, NOW)  # judged on what one admitted: the fourth request
    shared[KEY] = two.drain()[KEY].applied_to(shared[KEY])
    one.merge(shared)
    assert one.tat(KEY) == two.tat(KEY) == shared[KEY] == NOW + 4


def test_a_reply_is_advanced_by_the_requests_admitted_since_the_drain() -> None:
    limit = Limit(per_minute=60, burst=5)
    one, two = RateAccount(), RateAccount()
    two.merge({KEY: NOW + 2})  # another instance's two requests
    one.admit(KEY, limit, NOW)
    batch = one.drain()[KEY]
    one.admit(KEY, limit, NOW)  # while the settlement is on its way
    reply = batch.applied_to(NOW + 2)  # the shared bucket: the others' two, and the first
    one.merge({KEY: reply})
    assert one.tat(KEY) == NOW + 4  # the second request is in the local TAT once
    two.merge({KEY: reply})
    assert two.tat(KEY) == NOW + 3  # not yet settled: the others learn it next round


def test_a_failed_settlement_counts_its_requests_once_later() -> None:
    limit = Limit(per_minute=60, burst=5)
    account = RateAccount()
    account.admit(KEY, limit, NOW)
    account.admit(KEY, limit, NOW + 0.5)
    failed = account.drain()
    account.admit(KEY, limit, NOW + 0.75)
    account.restore(failed)
    (batch,) = account.drain().values()
    assert batch == Batch(3, 1.0, NOW + 3)
    assert batch.applied_to(NOW - 10) == NOW + 3
    assert batch.applied_to(NOW + 1) == NOW + 4


# -- bounded ----------------------------------------------------------------------------


def test_keys_unused_for_their_window_are_dropped() -> None:
    limit = Limit(per_minute=60, burst=10)
    account = RateAccount()
    for n in range(100):
        account.admit(f"merchant:{n}", limit, NOW + n / 100)
    account.merge({f"authfail:{n}": NOW + 5 for n in range(50)})
    assert len(account) == 150
    account.prune(NOW + 4.99)
    assert len(account) == 150  # passed, but not settled yet: kept
    account.drain()
    account.prune(NOW + 4.99)
    assert len(account) == 50  # the learned ones are still ahead
    account.prune(NOW + 5)
    assert len(account) == 0
    fresh = decide(limit, None, NOW + 5)[0]
    for n in range(100):  # a passed TAT decides as none: forgetting changed no decision
        assert account.peek(f"merchant:{n}", limit, NOW + 5) == fresh


# -- the bound across instances ---------------------------------------------------------


# Three instances that never learn of each other would admit three bursts at once.
INDEPENDENT = [("request", 0, 0.0)] * 3 + [("settle", 0, 0.0), ("settle", 1, 0.0)]
INDEPENDENT += [("request", 1, 0.0)] * 3 + [("settle", 1, 0.0), ("settle", 2, 0.0)]
INDEPENDENT += [("request", 2, 0.0)] * 3


@given(LIMITS, operations(3))
@example(Limit(per_minute=60, burst=3), INDEPENDENT)
def test_admissions_in_any_window_stay_within_the_bound(
    limit: Limit, ops: list[tuple[str, int, float]]
) -> None:
    """In any window [s, e], the instances together admit at most
    B + (e - s) / T + E, where E is the most requests of other instances, in the
    window, that an instance admitting in it had not learned of (not in the last
    settlement reply it merged). The README turns E into time: an instance learns of
    another's request within two settlement rounds, and one instance admits at most
    B + D / T in D seconds."""
    model = Model(3, limit)
    run(model, ops)
    admitted = model.admitted
    for first, start in enumerate(admitted):
        for last in range(first, len(admitted)):
            end = admitted[last]
            window = [r for r in admitted[: last + 1] if start.at <= r.at]
            unknown = max(
                sum(
                    1
                    for other in admitted[:judged]
                    if other.instance != x.instance
                    and other.at >= start.at
                    and (other.applied is None or other.applied > x.known)
                )
                for judged, x in enumerate(admitted[: last + 1])
                if start.at <= x.at
            )
            allowance = limit.burst + (end.at - start.at) / limit.interval
            assert len(window) <= allowance + unknown + 1e-9

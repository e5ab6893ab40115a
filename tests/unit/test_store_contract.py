"""The memory store: versioned commits, idempotency TTL, expiry index, stock holds."""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
)

from agentic_commerce.domain.model import (
    Line,
    Order,
    Payment,
    Session,
    Status,
)
from agentic_commerce.store import memory
from agentic_commerce.store.base import (
    Commit,
    IdempotencyRecord,
    OutboxEvent,
    VersionConflict,
)
from agentic_commerce.store.memory import MemoryStore

T = TypeVar("T")
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Drive a store coroutine to the end; the memory store must never suspend.

    (Its atomicity under trio rests on that: no checkpoint between reads and writes.)
    """
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise AssertionError("a memory store operation suspended")


def session(sid: str = "cs_1", *, expires_in: float = 3600, **changes: Any) -> Session:
    base = Session(
        id=sid,
        merchant_id="merchant_test",
        api_version="2025-09-29",
        status=Status.NOT_READY_FOR_PAYMENT,
        currency="usd",
        lines=(Line("li_test", "test", Decimal(1)),),
        created_at=NOW,
        updated_at=NOW,
        expires_at=NOW + timedelta(seconds=expires_in),
    )
    return replace(base, **changes)


def record(scope: str, expires_at: float) -> IdempotencyRecord:
    return IdempotencyRecord(
        scope, "fp", 201, b"{}", (("content-type", "application/json"),), expires_at
    )


# commits -----------------------------------------------------------------------


def test_create_then_update_increments_version() -> None:
    store = MemoryStore()
    first = run(store.commit(Commit(session(), None)))
    assert first.version == 1
    assert run(store.load_session("cs_1")) == first
    second = run(store.commit(Commit(replace(first, order_notes="n"), expected_version=1)))
    assert second.version == 2
    assert second.order_notes == "n"
    assert run(store.load_session("cs_1")) == second


def test_stale_expected_version_is_refused_and_nothing_written() -> None:
    store = MemoryStore()
    v1 = run(store.commit(Commit(session(), None)))
    v2 = run(store.commit(Commit(replace(v1, order_notes="winner"), 1)))
    with pytest.raises(VersionConflict):
        run(store.commit(Commit(replace(v1, order_notes="stale"), 1)))
    with pytest.raises(VersionConflict):
        run(store.commit(Commit(replace(v1, order_notes="future"), 7)))
    assert run(store.load_session("cs_1")) == v2


def test_create_of_an_existing_id_is_a_conflict() -> None:
    store = MemoryStore()
    original = run(store.commit(Commit(session(), None)))
    with pytest.raises(VersionConflict):
        run(store.commit(Commit(session(order_notes="second"), None)))
    assert run(store.load_session("cs_1")) == original


def test_update_of_a_missing_session_is_a_conflict() -> None:
    store = MemoryStore()
    with pytest.raises(VersionConflict):
        run(store.commit(Commit(session(), expected_version=1)))
    assert run(store.load_session("cs_1")) is None


def test_conflicting_commit_writes_no_idempotency_record_or_events() -> None:
    store = MemoryStore()
    run(store.commit(Commit(session(), None)))
    event = OutboxEvent("evt_1", "order_create", "cs_1", "ord_1", "2025-09-29", NOW)
    with pytest.raises(VersionConflict):
        run(store.commit(Commit(session(), None, record("k", 2e9), (event,))))
    assert run(store.load_idempotency("k")) is None
    assert run(store.list_events("pending")) == []


def test_commit_stores_order_events_and_idempotency_together() -> None:
    store = MemoryStore()
    order = Order(
        id="ord_1",
        checkout_session_id="cs_1",
        permalink_url="https://shop.example.com/orders/ord_1",
        created_at=NOW,
        currency="usd",
        lines=(),
        totals=(),
        payment=Payment("simulated", "sim_ch_1", 5000, "usd"),
    )
    event = OutboxEvent("evt_1", "order_create", "cs_1", "ord_1", "2025-09-29", NOW)
    run(
        store.commit(
            Commit(session(status=Status.COMPLETED, order=order), None, record("k", 2e9), (event,))
        )
    )
    assert run(store.load_order("ord_1")) == order
    assert run(store.load_order("ord_missing")) is None
    assert run(store.list_events("pending")) == [event]
    loaded = run(store.load_idempotency("k"))
    assert loaded is not None and loaded.status == 201


# idempotency TTL ---------------------------------------------------------------------


class FakeTime:
    """Stands in for the `time` module inside the memory store."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now


def test_idempotency_record_lives_until_its_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeTime(1_000_000.0)
    monkeypatch.setattr(memory, "time", clock)
    store = MemoryStore()
    run(store.commit(Commit(session(), None, record("merchant:key", 1_000_060.0))))
    assert run(store.load_idempotency("merchant:key")) is not None
    clock.now = 1_000_059.999
    assert run(store.load_idempotency("merchant:key")) is not None
    clock.now = 1_000_060.0
    assert run(store.load_idempotency("merchant:key")) is None
    clock.now = 1_000_000.0  # gone for good, even if the clock went back
    assert run(store.load_idempotency("merchant:key")) is None
    assert run(store.load_idempotency("other")) is None


def test_put_idempotency_for_answers_without_a_state_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeTime(1_000_000.0)
    monkeypatch.setattr(memory, "time", clock)
    store = MemoryStore()
    run(store.put_idempotency(record("k1", 1_000_010.0)))
    loaded = run(store.load_idempotency("k1"))
    assert loaded == record("k1", 1_000_010.0)
    run(store.put_idempotency(replace(record("k1", 1_000_020.0), status=409)))
    replaced = run(store.load_idempotency("k1"))
    assert replaced is not None and replaced.status == 409
    clock.now = 1_000_020.0
    assert run(store.load_idempotency("k1")) is None


def test_expired_records_are_purged_as_records_are_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeTime(1_000_000.0)
    monkeypatch.setattr(memory, "time", clock)
    store = MemoryStore()
    for i in range(memory.PURGE_EVERY - 1):
        run(store.put_idempotency(record(f"old{i}", 1_000_001.0)))
    clock.now = 1_000_002.0
    assert len(store._idempotency) == memory.PURGE_EVERY - 1
    run(store.put_idempotency(record("fresh", 1_000_100.0)))
    assert list(store._idempotency) == ["fresh"]  # memory stays bounded


def test_idempotency_claims(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeTime(500.0)
    monkeypatch.setattr(memory, "time", clock)
    store = MemoryStore()
    assert run(store.claim_idempotency("k", 30)) is True
    assert run(store.claim_idempotency("k", 30)) is False  # in flight elsewhere
    assert run(store.claim_idempotency("other", 30)) is True
    run(store.release_idempotency("k"))
    assert run(store.claim_idempotency("k", 30)) is True
    clock.now = 529.9
    assert run(store.claim_idempotency("k", 30)) is False
    clock.now = 530.0  # a claim lapses: a dead process cannot block a key for ever
    assert run(store.claim_idempotency("k", 30)) is True
    run(store.release_idempotency("never-claimed"))


# expiry index ------------------------------------------------------------------------


def test_due_sessions_in_expiry_order_with_limit() -> None:
    store = MemoryStore()
    run(store.commit(Commit(session("cs_late", expires_in=30), None)))
    run(store.commit(Commit(session("cs_early", expires_in=10), None)))
    run(store.commit(Commit(session("cs_future", expires_in=3600), None)))
    assert run(store.due_sessions(NOW)) == []
    assert run(store.due_sessions(NOW + timedelta(seconds=10))) == ["cs_early"]
    assert run(store.due_sessions(NOW + timedelta(seconds=60))) == ["cs_early", "cs_late"]
    assert run(store.due_sessions(NOW + timedelta(seconds=60), limit=1)) == ["cs_early"]


@pytest.mark.parametrize("status", [Status.COMPLETED, Status.CANCELED, Status.EXPIRED])
def test_terminal_sessions_leave_the_expiry_index(status: Status) -> None:
    store = MemoryStore()
    created = run(store.commit(Commit(session(expires_in=10), None)))
    later = NOW + timedelta(seconds=20)
    assert run(store.due_sessions(later)) == ["cs_1"]
    run(store.commit(Commit(replace(created, status=status), 1)))
    assert run(store.due_sessions(later)) == []


def test_new_expiry_date_moves_the_index_entry() -> None:
    store = MemoryStore()
    created = run(store.commit(Commit(session(expires_in=10), None)))
    run(store.commit(Commit(replace(created, expires_at=NOW + timedelta(seconds=100)), 1)))
    assert run(store.due_sessions(NOW + timedelta(seconds=20))) == []
    assert run(store.due_sessions(NOW + timedelta(seconds=100))) == ["cs_1"]


# holds -------------------------------------------------------------------------------


def stock(store: MemoryStore, pid: str) -> tuple[int, int]:
    level = run(store.stock(pid))
    assert level.available == level.on_hand - level.reserved
    return level.on_hand, level.reserved


def test_seed_stock_keeps_known_levels() -> None:
    store = MemoryStore()
    run(store.seed_stock({"a": 5}))
    run(store.hold("h", {"a": 2}))
    run(store.consume("h"))
    run(store.seed_stock({"a": 5, "b": 7}))
    assert stock(store, "a") == (3, 0)
    assert stock(store, "b") == (7, 0)
    assert stock(store, "unknown") == (0, 0)


def test_hold_is_all_or_nothing_per_product() -> None:
    store = MemoryStore()
    run(store.seed_stock({"a": 3, "b": 10}))
    assert run(store.hold("h1", {"a": 2, "b": 4})) == ()
    assert run(store.hold("h2", {"a": 2, "b": 6})) == ("a",)
    assert stock(store, "a") == (3, 2)  # h2 got no unit of a
    assert stock(store, "b") == (10, 10)
    assert run(store.hold("h3", {"b": 1, "unknown": 1})) == ("b", "unknown")


def test_hold_replaces_the_holders_reservation() -> None:
    store = MemoryStore()
    run(store.seed_stock({"a": 3, "b": 5}))
    assert run(store.hold("h", {"a": 3})) == ()
    # The holder's own units count as free for its new wish.
    assert run(store.hold("h", {"a": 3, "b": 1})) == ()
    assert stock(store, "a") == (3, 3)
    assert run(store.hold("h", {"a": 1})) == ()  # b no longer wanted: released
    assert stock(store, "a") == (3, 1)
    assert stock(store, "b") == (5, 0)
    assert run(store.hold("other", {"a": 2})) == ()
    # Asking for more than is free loses the whole product, including what was held.
    assert run(store.hold("h", {"a": 2})) == ("a",)
    assert stock(store, "a") == (3, 2)


def test_release_and_consume() -> None:
    store = MemoryStore()
    run(store.seed_stock({"a": 5}))
    run(store.hold("h1", {"a": 2}))
    run(store.hold("h2", {"a": 3}))
    run(store.release("h1"))
    assert stock(store, "a") == (5, 3)
    run(store.release("h1"))  # releasing twice changes nothing
    assert stock(store, "a") == (5, 3)
    run(store.consume("h2"))
    assert stock(store, "a") == (2, 0)
    run(store.consume("h2"))  # nothing held any more: nothing consumed
    assert stock(store, "a") == (2, 0)
    assert run(store.hold("h3", {"a": 3})) == ("a",)


class HoldMachine(RuleBasedStateMachine):
    """Random holders hold, release and consume; a model tracks every unit."""

    holders = Bundle("holders")

    def __init__(self) -> None:
        super().__init__()
        self.store = MemoryStore()
        self.initial: dict[str, int] = {}
        self.sold: dict[str, int] = {}
        self.holds: dict[str, dict[str, int]] = {}

    @initialize(
        target=holders,
        levels=st.fixed_dictionaries({p: st.integers(0, 6) for p in ("a", "b", "c")}),
    )
    def seed(self, levels: dict[str, int]) -> Any:
        run(self.store.seed_stock(levels))
        self.initial = dict(levels)
        self.sold = dict.fromkeys(levels, 0)
        return "h0"

    @rule(target=holders, n=st.integers(1, 7))
    def new_holder(self, n: int) -> str:
        return f"h{n}"

    def free(self, product: str, holder: str) -> int:
        reserved = sum(h.get(product, 0) for h in self.holds.values())
        mine = self.holds.get(holder, {}).get(product, 0)
        return self.initial[product] - self.sold[product] - reserved + mine

    @rule(
        holder=holders,
        wants=st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers(0, 5), max_size=3),
    )
    def hold(self, holder: str, wants: dict[str, int]) -> None:
        expected_short = sorted(
            p
            for p in set(wants) | set(self.holds.get(holder, {}))
            if wants.get(p, 0) > self.free(p, holder)
        )
        granted = {p: n for p, n in wants.items() if n and p not in expected_short}
        short = run(self.store.hold(holder, wants))
        assert list(short) == expected_short
        if granted:
            self.holds[holder] = granted
        else:
            self.holds.pop(holder, None)

    @rule(holder=holders)
    def release(self, holder: str) -> None:
        run(self.store.release(holder))
        self.holds.pop(holder, None)

    @rule(holder=consumes(holders))
    def consume(self, holder: str) -> None:
        run(self.store.consume(holder))
        for product, units in self.holds.pop(holder, {}).items():
            self.sold[product] += units

    @invariant()
    def never_oversold(self) -> None:
        for product in self.initial:
            level = run(self.store.stock(product))
            assert level.on_hand >= 0
            assert 0 <= level.reserved <= level.on_hand
            assert level.on_hand == self.initial[product] - self.sold[product]
            assert level.reserved == sum(h.get(product, 0) for h in self.holds.values())


TestHoldMachine = HoldMachine.TestCase


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["hold", "release", "consume"]),
            st.integers(0, 9),
            st.dictionaries(st.sampled_from(["x", "y"]), st.integers(0, 4), max_size=2),
        ),
        max_size=60,
    )
)
def test_random_operations_never_oversell(ops: list[tuple[str, int, dict[str, int]]]) -> None:
    store = MemoryStore()
    run(store.seed_stock({"x": 4, "y": 2}))
    for op, n, wants in ops:
        holder = f"h{n}"
        if op == "hold":
            run(store.hold(holder, wants))
        elif op == "release":
            run(store.release(holder))
        else:
            run(store.consume(holder))
        for product, initial in (("x", 4), ("y", 2)):
            level = run(store.stock(product))
            assert 0 <= level.reserved <= level.on_hand <= initial

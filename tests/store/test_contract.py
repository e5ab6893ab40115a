"""The store contract, run against every store (memory, and Redis on a real server):
versioned commits, idempotency records and claims, the expiry index, stock holds,
the vault, request protection and the outbox. Memory-store specifics close the file;
Redis specifics (real TTLs, outages, restarts) are in tests/store/test_redis_store.py."""

from __future__ import annotations

import time
from collections.abc import Coroutine
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from agentic_commerce.domain.feed import Feed
from agentic_commerce.domain.model import Line, Order, Payment, Session, Status
from agentic_commerce.domain.rate_account import Batch
from agentic_commerce.domain.rate_limit import Limit, decide
from agentic_commerce.domain.vault import TokenUse, VaultToken
from agentic_commerce.store.base import (
    Claim,
    Commit,
    FeedPush,
    IdempotencyRecord,
    Joined,
    Member,
    OutboxEvent,
    Store,
    VersionConflict,
)
from agentic_commerce.store.memory import MemoryStore
from agentic_commerce.store.memory import idempotency as memory_idempotency
from agentic_commerce.store.memory import limits as memory_limits
from agentic_commerce.store.memory import state as memory_state
from agentic_commerce.store.memory import stock as memory_stock
from tests.stores import StoreFactory

T = TypeVar("T")
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
LATER = time.time() + 3600  # an idempotency expiry in the future (stores use real time)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Drive a store coroutine to the end without an event loop.

    The memory store must never suspend (its atomicity under trio rests on that: no
    checkpoint between reads and writes); the test Redis store runs its calls inline
    outside trio, so it does not suspend either.
    """
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise AssertionError("a store operation suspended")


@pytest.fixture
def store(store_factory: StoreFactory) -> Store:
    return store_factory()  # type: ignore[no-any-return]


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


def record(scope: str, expires_at: float = LATER) -> IdempotencyRecord:
    return IdempotencyRecord(
        scope, "fp", 201, b"{}", (("content-type", "application/json"),), expires_at
    )


def order(oid: str = "ord_1", sid: str = "cs_1") -> Order:
    return Order(
        id=oid,
        checkout_session_id=sid,
        permalink_url=f"https://shop.example.com/orders/{oid}",
        created_at=NOW,
        currency="usd",
        lines=(),
        totals=(),
        payment=Payment("simulated", "sim_ch_1", 5000, "usd"),
    )


def event(eid: str, sid: str = "cs_1", at: datetime = NOW) -> OutboxEvent:
    return OutboxEvent(eid, "order_create", sid, "ord_1", "2025-09-29", at)


# commits -----------------------------------------------------------------------


def test_create_then_update_increments_version(store: Store) -> None:
    first = run(store.commit(Commit(session(), None)))
    assert first.version == 1
    assert run(store.load_session("cs_1")) == first
    second = run(store.commit(Commit(replace(first, order_notes="n"), expected_version=1)))
    assert second.version == 2
    assert second.order_notes == "n"
    assert run(store.load_session("cs_1")) == second
    assert run(store.load_session("cs_unknown")) is None


def test_stale_expected_version_is_refused_and_nothing_written(store: Store) -> None:
    v1 = run(store.commit(Commit(session(), None)))
    v2 = run(store.commit(Commit(replace(v1, order_notes="winner"), 1)))
    with pytest.raises(VersionConflict):
        run(store.commit(Commit(replace(v1, order_notes="stale"), 1)))
    with pytest.raises(VersionConflict):
        run(store.commit(Commit(replace(v1, order_notes="future"), 7)))
    assert run(store.load_session("cs_1")) == v2


def test_create_of_an_existing_id_is_a_conflict(store: Store) -> None:
    original = run(store.commit(Commit(session(), None)))
    with pytest.raises(VersionConflict):
        run(store.commit(Commit(session(order_notes="second"), None)))
    assert run(store.load_session("cs_1")) == original


def test_update_of_a_missing_session_is_a_conflict(store: Store) -> None:
    with pytest.raises(VersionConflict):
        run(store.commit(Commit(session(), expected_version=1)))
    assert run(store.load_session("cs_1")) is None


def test_conflicting_commit_writes_no_idempotency_record_or_events(store: Store) -> None:
    run(store.commit(Commit(session(), None)))
    with pytest.raises(VersionConflict):
        run(store.commit(Commit(session(), None, record("cs_1\x1fk"), (event("evt_1"),))))
    assert run(store.load_idempotency("cs_1\x1fk")) is None
    assert run(store.list_events("pending")) == []
    assert run(store.list_events(None)) == []
    assert run(store.load_event("evt_1")) is None
    assert run(store.outbox_counts()) == {}


@pytest.mark.parametrize("scope", ["cs_1\x1fmerchant\x1fkey", "elsewhere\x1fkey", "k"])
def test_commit_stores_order_events_and_idempotency_together(store: Store, scope: str) -> None:
    """The record is written with the commit whichever partition its scope names."""
    done = session(status=Status.COMPLETED, order=order())
    run(store.commit(Commit(done, None, record(scope), (event("evt_1"),))))
    assert run(store.load_order("ord_1")) == order()
    assert run(store.load_order("ord_missing")) is None
    assert run(store.list_events("pending")) == [event("evt_1")]
    loaded = run(store.load_idempotency(scope))
    assert loaded == record(scope)


def test_orders_follow_their_session(store: Store) -> None:
    paid = run(store.commit(Commit(session(status=Status.COMPLETED, order=order()), None)))
    shipped = replace(order(), status="shipped", updated_at=NOW + timedelta(days=1))
    run(store.commit(Commit(replace(paid, order=shipped), 1)))
    assert run(store.load_order("ord_1")) == shipped


# idempotency ---------------------------------------------------------------------


def test_put_idempotency_for_answers_without_a_state_change(store: Store) -> None:
    run(store.put_idempotency(record("cs_1\x1fk1")))
    assert run(store.load_idempotency("cs_1\x1fk1")) == record("cs_1\x1fk1")
    run(store.put_idempotency(replace(record("cs_1\x1fk1"), status=409, body=b"\x00\xff")))
    replaced = run(store.load_idempotency("cs_1\x1fk1"))
    assert replaced is not None and (replaced.status, replaced.body) == (409, b"\x00\xff")
    assert run(store.load_idempotency("cs_1\x1fother")) is None


def test_an_expired_record_is_not_returned(store: Store) -> None:
    run(store.put_idempotency(record("cs_1\x1fold", time.time() - 1)))
    run(store.commit(Commit(session(), None, record("cs_1\x1fgone", time.time() - 1))))
    assert run(store.load_idempotency("cs_1\x1fold")) is None
    assert run(store.load_idempotency("cs_1\x1fgone")) is None


def test_idempotency_claims(store: Store) -> None:
    stored = record("cs_1\x1fdone", time.time() + 60)
    run(store.put_idempotency(stored))
    assert run(store.begin_idempotency("cs_1\x1fdone", "a", 30)) == stored  # answered: replay
    assert run(store.begin_idempotency("cs_1\x1fk", "a", 30)) is Claim.CLAIMED_FRESH
    assert run(store.begin_idempotency("cs_1\x1fk", "b", 30)) is Claim.BUSY  # in flight elsewhere
    assert run(store.begin_idempotency("cs_1\x1fother", "a", 30)) is Claim.CLAIMED_FRESH
    run(store.release_idempotency("cs_1\x1fk", "b"))  # not b's: kept
    assert run(store.begin_idempotency("cs_1\x1fk", "b", 30)) is Claim.BUSY
    run(store.release_idempotency("cs_1\x1fk", "a"))
    assert run(store.begin_idempotency("cs_1\x1fk", "b", 30)) is Claim.CLAIMED_FRESH
    run(store.release_idempotency("never-claimed", "a"))


def test_a_claim_says_whether_its_partition_has_a_session(store: Store) -> None:
    assert run(store.begin_idempotency("cs_1\x1fcreate", "a", 30)) is Claim.CLAIMED_FRESH
    run(store.commit(Commit(session("cs_1"), None)))
    assert run(store.begin_idempotency("cs_1\x1fupdate", "a", 30)) is Claim.CLAIMED
    assert run(store.begin_idempotency("cs_2\x1fcreate", "a", 30)) is Claim.CLAIMED_FRESH


@pytest.mark.parametrize("write", ["commit", "put_idempotency", "put_vault_token"])
def test_recording_the_answer_ends_the_claim(store: Store, write: str) -> None:
    scope = "cs_1\x1fk"
    assert run(store.begin_idempotency(scope, "a", 30)) is Claim.CLAIMED_FRESH
    answer = record(scope)
    if write == "commit":
        run(store.commit(Commit(session(), None, answer)))
    elif write == "put_idempotency":
        run(store.put_idempotency(answer))
    else:
        run(store.put_vault_token(token(), answer))
    assert run(store.begin_idempotency(scope, "b", 30)) == answer  # no claim left: replay
    run(store.release_idempotency(scope, "a"))  # a late release leaves the answer
    assert run(store.load_idempotency(scope)) == answer
    # A renewal racing the answer: not a lost claim (it was answered).
    assert run(store.renew_idempotency([(scope, "a")], 30)) == []


def test_a_hold_of_zero_units_releases_the_product(store: Store) -> None:
    run(store.seed_stock({"a": 3, "b": 5}))
    assert run(store.hold("h", {"a": 2, "b": 1})) == ()
    assert run(store.hold("h", {"a": 0, "b": 2})) == ()
    assert stock(store, "a") == (3, 0)
    assert stock(store, "b") == (5, 2)
    assert run(store.hold("h", {"b": 2})) == ()  # a named no more: nothing changes
    run(store.consume("h"))
    assert stock(store, "a") == (3, 0)
    assert stock(store, "b") == (3, 0)


def test_idempotency_claims_are_renewed_by_their_holder_only(store: Store) -> None:
    assert run(store.begin_idempotency("cs_1\x1fk", "a", 30)) is Claim.CLAIMED_FRESH
    assert run(store.begin_idempotency("cs_1\x1fj", "a", 30)) is Claim.CLAIMED_FRESH
    lost = run(store.renew_idempotency([("cs_1\x1fk", "a"), ("cs_1\x1fj", "z")], 30))
    assert lost == ["cs_1\x1fj"]
    assert run(store.renew_idempotency([("cs_1\x1fnever", "a")], 30)) == ["cs_1\x1fnever"]
    assert run(store.renew_idempotency([], 30)) == []
    assert run(store.begin_idempotency("cs_1\x1fk", "b", 30)) is Claim.BUSY


def test_a_lone_member_shares_the_store_with_nobody(store: Store) -> None:
    lone, shared, other = Member("i1", None), Member("i2", "http://b"), Member("i3", "http://c")
    if not store.durable:  # one process: nobody to meet
        assert run(store.join(lone, 30)) is Joined.RENEWED
        assert run(store.join(shared, 30)) is Joined.RENEWED
        return
    assert run(store.join(shared, 30)) is Joined.NEW
    assert run(store.join(other, 30)) is Joined.NEW  # instances with URLs work together
    assert run(store.join(shared, 30)) is Joined.RENEWED
    assert run(store.instance_url("i2")) == "http://b"
    assert run(store.join(lone, 30)) in ("shared:i2", "shared:i3")
    run(store.leave(shared))
    run(store.leave(other))
    assert run(store.instance_url("i2")) is None
    assert run(store.join(lone, 30)) is Joined.NEW
    assert run(store.join(lone, 30)) is Joined.RENEWED
    assert run(store.join(shared, 30)) == "lone:i1"
    assert run(store.join(Member("i4", None), 30)) == "lone:i1"


def test_instance_urls_are_those_of_live_members_with_one(store: Store) -> None:
    assert run(store.instance_urls()) == {}
    if not store.durable:  # one process: nobody to meet
        return
    run(store.join(Member("i2", "http://b"), 30))
    run(store.join(Member("i3", "http://c"), 30))
    assert run(store.instance_urls()) == {"i2": "http://b", "i3": "http://c"}
    run(store.leave(Member("i2", "http://b")))
    assert run(store.instance_urls()) == {"i3": "http://c"}


# revocations (the admin page's sign-outs) -----------------------------------------------


def test_a_revoked_credential_stays_revoked_until_it_would_have_expired(store: Store) -> None:
    assert run(store.revoked("sgn_1")) is False
    run(store.revoke("sgn_1", time.time() + 60))
    assert run(store.revoked("sgn_1")) is True
    assert run(store.revoked("sgn_2")) is False
    run(store.revoke("sgn_3", time.time() - 1))  # expired already: nothing to keep
    assert run(store.revoked("sgn_3")) is False


# expiry index ------------------------------------------------------------------------


def test_due_sessions_in_expiry_order_with_limit(store: Store) -> None:
    run(store.commit(Commit(session("cs_late", expires_in=30), None)))
    run(store.commit(Commit(session("cs_early", expires_in=10), None)))
    run(store.commit(Commit(session("cs_future", expires_in=3600), None)))
    assert run(store.due_sessions(NOW)) == []
    assert run(store.due_sessions(NOW + timedelta(seconds=10))) == ["cs_early"]
    assert run(store.due_sessions(NOW + timedelta(seconds=60))) == ["cs_early", "cs_late"]
    assert run(store.due_sessions(NOW + timedelta(seconds=60), limit=1)) == ["cs_early"]


def test_latest_open_sessions_newest_expiry_first(store: Store) -> None:
    for sid, seconds in (("cs_a", 10), ("cs_b", 30), ("cs_c", 20)):
        run(store.commit(Commit(session(sid, expires_in=seconds), None)))
    created = run(store.commit(Commit(session("cs_done", expires_in=40), None)))
    run(store.commit(Commit(replace(created, status=Status.COMPLETED, order=order()), 1)))
    latest = run(store.latest_open_sessions(10))
    assert latest == [
        ("cs_b", NOW + timedelta(seconds=30)),
        ("cs_c", NOW + timedelta(seconds=20)),
        ("cs_a", NOW + timedelta(seconds=10)),
    ]
    assert [sid for sid, _ in run(store.latest_open_sessions(2))] == ["cs_b", "cs_c"]


@pytest.mark.parametrize("status", [Status.COMPLETED, Status.CANCELED, Status.EXPIRED])
def test_terminal_sessions_leave_the_expiry_index(store: Store, status: Status) -> None:
    created = run(store.commit(Commit(session(expires_in=10), None)))
    later = NOW + timedelta(seconds=20)
    assert run(store.due_sessions(later)) == ["cs_1"]
    run(store.commit(Commit(replace(created, status=status), 1)))
    assert run(store.due_sessions(later)) == []


def test_new_expiry_date_moves_the_index_entry(store: Store) -> None:
    created = run(store.commit(Commit(session(expires_in=10), None)))
    run(store.commit(Commit(replace(created, expires_at=NOW + timedelta(seconds=100)), 1)))
    assert run(store.due_sessions(NOW + timedelta(seconds=20))) == []
    assert run(store.due_sessions(NOW + timedelta(seconds=100))) == ["cs_1"]


# holds -------------------------------------------------------------------------------


def stock(store: Store, pid: str) -> tuple[int, int]:
    level = run(store.stock(pid))
    assert level.available == level.on_hand - level.reserved
    return level.on_hand, level.reserved


def test_seed_stock_keeps_known_levels(store: Store) -> None:
    run(store.seed_stock({"a": 5}))
    run(store.hold("h", {"a": 2}))
    run(store.consume("h"))
    run(store.seed_stock({"a": 5, "b": 7}))
    assert stock(store, "a") == (3, 0)
    assert stock(store, "b") == (7, 0)
    assert stock(store, "unknown") == (0, 0)


def test_levels_of_many_products_at_once(store: Store) -> None:
    run(store.seed_stock({"a": 3, "b": 5}))
    run(store.hold("h1", {"b": 2}))
    levels = run(store.stocks(["b", "unknown", "a"]))
    assert [(s.product_id, s.on_hand, s.reserved) for s in levels] == [
        ("b", 5, 2),
        ("unknown", 0, 0),
        ("a", 3, 0),
    ]
    assert run(store.stocks([])) == []


def test_hold_is_all_or_nothing_per_product(store: Store) -> None:
    run(store.seed_stock({"a": 3, "b": 10}))
    assert run(store.hold("h1", {"a": 2, "b": 4})) == ()
    assert run(store.hold("h2", {"a": 2, "b": 6})) == ("a",)
    assert stock(store, "a") == (3, 2)  # h2 got no unit of a
    assert stock(store, "b") == (10, 10)
    assert run(store.hold("h3", {"b": 1, "unknown": 1})) == ("b", "unknown")


def test_hold_replaces_the_holders_reservation(store: Store) -> None:
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


def test_release_and_consume(store: Store) -> None:
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


def test_orphan_holds_are_those_of_sessions_that_are_not_open(store: Store) -> None:
    run(store.seed_stock({"a": 10}))
    run(store.commit(Commit(session("cs_open"), None)))
    run(store.commit(Commit(session("cs_done", status=Status.CANCELED), None)))
    run(store.commit(Commit(session("cs_paid", status=Status.COMPLETED), None)))
    for holder in ("cs_open", "cs_done", "cs_never_committed", "cs_paid"):
        assert run(store.hold(holder, {"a": 2})) == ()
    past = datetime.now(UTC) - timedelta(hours=1)
    assert run(store.release_orphan_holds(past)) == 0  # all taken after `older_than`
    assert stock(store, "a") == (10, 8)
    future = datetime.now(UTC) + timedelta(seconds=5)
    assert run(store.release_orphan_holds(future)) == 3
    # The paid session's units are sold; the others' released; the open session holds.
    assert stock(store, "a") == (8, 2)
    assert run(store.release_orphan_holds(future)) == 0
    run(store.release("cs_open"))
    assert stock(store, "a") == (8, 0)


class HoldMachine(RuleBasedStateMachine):
    """Random holders hold, release and consume; a model tracks every unit."""

    holders = Bundle("holders")

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store
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


def test_holds_match_a_model_of_every_unit(store_factory: StoreFactory) -> None:
    # Each Redis step is a few round trips: fewer examples keep the run short.
    examples = 100 if store_factory.kind == "memory" else 40
    run_state_machine_as_test(
        lambda: HoldMachine(store_factory()), settings=settings(max_examples=examples)
    )


def test_random_operations_never_oversell(store_factory: StoreFactory) -> None:
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
    def check(ops: list[tuple[str, int, dict[str, int]]]) -> None:
        store = store_factory()
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

    check()


# sandbox vault ---------------------------------------------------------------------


def token(tid: str = "vt_1", **changes: Any) -> VaultToken:
    base = VaultToken(
        id=tid,
        merchant_id="merchant_test",
        checkout_session_id="cs_1",
        max_amount=5000,
        currency="usd",
        expires_at=NOW + timedelta(hours=1),
        created_at=NOW,
        brand="visa",
        last4="4242",
        exp_month=12,
        exp_year=2030,
        funding="credit",
        card_fingerprint="f" * 64,
        metadata={"source": "test"},
    )
    return replace(base, **changes)


def use(sid: str = "cs_1", amount: int = 5000) -> TokenUse:
    return TokenUse(sid, "merchant_test", amount, "usd", NOW)


def test_a_feed_is_stored_with_the_answer_that_made_it(store: Store) -> None:
    feed = Feed("feed_1", "merchant_a", "US", NOW)
    answer = record("feed-merchant_a\x1fkey")
    run(store.put_feed(feed, answer))
    assert run(store.load_feed("feed_1")) == feed
    assert run(store.load_feed("feed_2")) is None
    assert run(store.load_idempotency(answer.scope)) == answer


def test_feed_push_progress_is_kept_per_remote_feed(store: Store) -> None:
    assert run(store.load_feed_push("target_a")) is None
    run(store.start_feed_push("target_a", "feed_remote_1"))
    assert run(store.load_feed_push("target_a")) == FeedPush("feed_remote_1", {})
    run(store.record_feed_push("target_a", "feed_remote_1", {"tee": "d1", "mug:large": "d2"}))
    run(store.record_feed_push("target_a", "feed_remote_1", {"tee": "d3"}))  # replaces
    assert run(store.load_feed_push("target_a")) == FeedPush(
        "feed_remote_1", {"tee": "d3", "mug:large": "d2"}
    )
    assert run(store.load_feed_push("target_b")) is None


def test_a_new_remote_feed_starts_with_nothing_pushed(store: Store) -> None:
    run(store.start_feed_push("target_a", "feed_remote_1"))
    run(store.record_feed_push("target_a", "feed_remote_1", {"tee": "d1"}))
    run(store.start_feed_push("target_a", "feed_remote_2"))
    assert run(store.load_feed_push("target_a")) == FeedPush("feed_remote_2", {})
    run(store.record_feed_push("target_a", "feed_remote_1", {"mug": "d2"}))  # a stale push
    run(store.record_feed_push("target_b", "feed_remote_1", {"mug": "d2"}))  # never started
    assert run(store.load_feed_push("target_a")) == FeedPush("feed_remote_2", {})
    assert run(store.load_feed_push("target_b")) is None


def test_vault_token_is_stored_with_the_answer_that_made_it(store: Store) -> None:
    answer = record("vault-merchant_test\x1fkey")
    run(store.put_vault_token(token(), answer))
    assert run(store.load_vault_token("vt_1")) == token()
    assert run(store.load_idempotency(answer.scope)) == answer
    assert run(store.load_vault_token("vt_missing")) is None


def test_vault_token_is_consumed_once_by_its_session(store: Store) -> None:
    run(store.put_vault_token(token(), None))
    refused = run(store.consume_vault_token("vt_1", use(amount=5001)))
    assert refused is not None and refused.code == "payment_declined"
    assert run(store.load_vault_token("vt_1")) == token()  # a refusal leaves it unused
    assert run(store.consume_vault_token("vt_1", use())) is None
    assert run(store.load_vault_token("vt_1")) == token(consumed_by="cs_1")
    assert run(store.consume_vault_token("vt_1", use())) is None  # the same session, again
    other = run(store.consume_vault_token("vt_1", use("cs_2")))
    assert other is not None and other.code == "invalid"
    missing = run(store.consume_vault_token("vt_missing", use()))
    assert missing is not None and missing.code == "invalid"


def test_a_token_used_by_another_session_is_declined(store: Store) -> None:
    run(store.put_vault_token(token(consumed_by="cs_elsewhere"), None))
    refused = run(store.consume_vault_token("vt_1", use()))
    assert refused is not None and refused.message == "The payment token has already been used."


# request protection ------------------------------------------------------------------


def test_rate_limit_decisions_follow_gcra(store: Store) -> None:
    limit = Limit(per_minute=60, burst=3)
    base = time.time()
    tat = None
    for offset in (0.0, 0.0, 0.25, 0.5, 0.5, 1.75, 3.0, 3.0, 3.0, 3.0, 9.5, 9.5):
        now = base + offset
        expected = decide(limit, tat, now)
        tat = expected[1]
        assert run(store.rate_limit("merchant:m", limit, now)) == expected
    assert run(store.rate_limit("merchant:other", limit, base + 9.5))[0].remaining == 2


def test_a_count_that_fills_its_bucket_makes_it_busy_until_its_tat(store: Store) -> None:
    limit, now = Limit(per_minute=60, burst=2), 1_000_000.0
    run(store.rate_limit("authfail:a", limit, now))
    assert run(store.settle_rate_limits({}, now)) == {}  # one more allowed: nobody need know
    decision, full = run(store.rate_limit("authfail:a", limit, now))
    assert (decision.allowed, decision.remaining, full) == (True, 0, now + 2)
    assert run(store.settle_rate_limits({}, now)) == {"authfail:a": now + 2}
    refused, same = run(store.rate_limit("authfail:a", limit, now + 0.5))
    assert (refused.allowed, same) == (False, now + 2)
    assert run(store.settle_rate_limits({}, now + 1.999)) == {"authfail:a": now + 2}
    assert run(store.settle_rate_limits({}, now + 2)) == {}  # drained: busy no more


def test_settling_counts_each_request_once_at_its_own_time(store: Store) -> None:
    now, interval = 1_000_000.0, 1.0
    # Two requests on an empty bucket (at 0 and 0.25), settled at 0.5.
    batch = Batch.one(interval, now).then(Batch.one(interval, now + 0.25))
    assert run(store.settle_rate_limits({"m": batch}, now + 0.5)) == {"m": now + 2}
    # Another instance's request at 0.25, settled next: on top of them, once.
    other = Batch.one(interval, now + 0.25)
    assert run(store.settle_rate_limits({"m": other}, now + 0.5)) == {"m": now + 3}
    # An instance with nothing to settle learns every busy key.
    assert run(store.settle_rate_limits({}, now + 0.5)) == {"m": now + 3}
    # A request after the shared TAT has passed starts from its own time.
    late = Batch.one(interval, now + 10)
    assert run(store.settle_rate_limits({"m": late, "n": late}, now + 10)) == {
        "m": now + 11,
        "n": now + 11,
    }
    assert run(store.settle_rate_limits({}, now + 11)) == {}  # drained: busy no more


def test_settling_adds_the_intervals_as_the_account_does_to_the_bit(store: Store) -> None:
    now, interval = 1_000_000.1, 60 / 7
    tat = run(store.settle_rate_limits({"m": Batch.one(interval, now)}, now))["m"]
    batch = Batch(2, interval, now)  # older requests: the stored TAT advanced wins
    expected = batch.applied_to(tat)
    assert expected != tat + 2 * interval  # one interval at a time, as GCRA counts
    assert run(store.settle_rate_limits({"m": batch}, now)) == {"m": expected}


def test_signatures_are_remembered(store: Store) -> None:
    assert run(store.remember_signature("sig_a", 60)) is True
    assert run(store.remember_signature("sig_a", 60)) is False
    assert run(store.remember_signature("sig_b", 60)) is True


# outbox ------------------------------------------------------------------------------


def commit_events(store: Store, sid: str, *events: OutboxEvent) -> None:
    current = run(store.load_session(sid))
    base = current or session(sid)
    version = None if current is None else current.version
    run(store.commit(Commit(base, version, None, events)))


def ids(events: list[OutboxEvent]) -> list[str]:
    return sorted(e.id for e in events)


def test_events_of_a_session_go_out_in_order(store: Store) -> None:
    commit_events(store, "cs_a", event("evt_a1", "cs_a"))
    commit_events(store, "cs_a", event("evt_a2", "cs_a", NOW + timedelta(seconds=1)))
    commit_events(store, "cs_b", event("evt_b1", "cs_b"))
    first = run(store.claim_due_events(NOW, 10, 30))
    assert ids(first) == ["evt_a1", "evt_b1"]  # a2 waits for a1
    assert {e.state for e in first} == {"in_flight"}
    assert {e.lease_until for e in first} == {NOW + timedelta(seconds=30)}
    assert run(store.claim_due_events(NOW, 10, 30)) == []  # leased
    a1 = next(e for e in first if e.id == "evt_a1")
    run(store.save_event(replace(a1, state="delivered", attempts=1, lease_until=None)))
    assert ids(run(store.claim_due_events(NOW, 10, 30))) == ["evt_a2"]
    assert run(store.load_event("evt_a1")) == replace(
        a1, state="delivered", attempts=1, lease_until=None
    )


def test_claims_respect_the_limit(store: Store) -> None:
    for sid in ("cs_a", "cs_b", "cs_c"):
        commit_events(store, sid, event(f"evt_{sid}", sid))
    assert len(run(store.claim_due_events(NOW, 2, 30))) == 2
    assert len(run(store.claim_due_events(NOW, 2, 30))) == 1
    assert run(store.claim_due_events(NOW, 2, 30)) == []


def test_a_lapsed_lease_makes_the_event_due_again(store: Store) -> None:
    commit_events(store, "cs_a", event("evt_1", "cs_a"))
    (claimed,) = run(store.claim_due_events(NOW, 10, 30))
    assert run(store.claim_due_events(NOW + timedelta(seconds=29), 10, 30)) == []
    (again,) = run(store.claim_due_events(NOW + timedelta(seconds=30), 10, 30))
    assert again.id == claimed.id
    assert again.lease_until == NOW + timedelta(seconds=60)


def test_a_retry_waits_for_its_time_and_a_dead_event_holds_nothing_back(store: Store) -> None:
    commit_events(store, "cs_a", event("evt_1", "cs_a"))
    commit_events(store, "cs_a", event("evt_2", "cs_a"))
    (first,) = run(store.claim_due_events(NOW, 10, 30))
    retry = replace(
        first,
        state="pending",
        attempts=1,
        next_attempt_at=NOW + timedelta(seconds=60),
        lease_until=None,
        last_error="HTTP 503",
    )
    run(store.save_event(retry))
    assert run(store.claim_due_events(NOW + timedelta(seconds=59), 10, 30)) == []
    (again,) = run(store.claim_due_events(NOW + timedelta(seconds=60), 10, 30))
    assert (again.id, again.attempts, again.last_error) == ("evt_1", 1, "HTTP 503")
    run(store.save_event(replace(again, state="dead", lease_until=None)))
    (second,) = run(store.claim_due_events(NOW + timedelta(seconds=60), 10, 30))
    assert second.id == "evt_2"


def test_events_are_listed_and_counted_by_state(store: Store) -> None:
    for n in range(4):
        commit_events(store, f"cs_{n}", event(f"evt_{n}", f"cs_{n}"))
    claimed = {e.id: e for e in run(store.claim_due_events(NOW, 3, 30))}
    delivered, dead = sorted(claimed)[:2]
    run(store.save_event(replace(claimed[delivered], state="delivered", lease_until=None)))
    run(store.save_event(replace(claimed[dead], state="dead", lease_until=None)))
    assert run(store.outbox_counts()) == {"pending": 1, "in_flight": 1, "delivered": 1, "dead": 1}
    assert run(store.outbox_backlog()) == (2, 1)
    assert [e.id for e in run(store.list_events(None))] == [f"evt_{n}" for n in range(4)]
    assert [e.id for e in run(store.list_events(None, limit=2))] == ["evt_0", "evt_1"]
    newest = run(store.list_events(None, limit=3, newest_first=True))
    assert [e.id for e in newest] == ["evt_3", "evt_2", "evt_1"]
    assert [e.id for e in run(store.list_events("dead", newest_first=True))] == [dead]
    assert [e.id for e in run(store.list_events("delivered"))] == [delivered]
    assert [e.id for e in run(store.list_events("dead"))] == [dead]
    assert len(run(store.list_events("in_flight"))) == 1
    assert [e.id for e in run(store.list_events("pending"))] == ["evt_3"]
    assert run(store.list_events("no_such_state")) == []


# memory-store specifics (its clock is the `time` module, which a test can replace) ---


class FakeTime:
    """Stands in for the `time` module inside the memory store."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now


def fake_memory_time(monkeypatch: pytest.MonkeyPatch, clock: FakeTime) -> None:
    for module in (memory_state, memory_idempotency, memory_limits, memory_stock):
        monkeypatch.setattr(module, "time", clock)


def test_memory_record_lives_until_its_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeTime(1_000_000.0)
    fake_memory_time(monkeypatch, clock)
    store = MemoryStore()
    run(store.commit(Commit(session(), None, record("merchant:key", 1_000_060.0))))
    assert run(store.load_idempotency("merchant:key")) is not None
    clock.now = 1_000_059.999
    assert run(store.load_idempotency("merchant:key")) is not None
    clock.now = 1_000_060.0
    assert run(store.load_idempotency("merchant:key")) is None
    clock.now = 1_000_000.0  # gone for good, even if the clock went back
    assert run(store.load_idempotency("merchant:key")) is None


def test_memory_expired_records_are_purged_as_records_are_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeTime(1_000_000.0)
    fake_memory_time(monkeypatch, clock)
    store = MemoryStore()
    for i in range(memory_state.PURGE_EVERY - 1):
        run(store.put_idempotency(record(f"old{i}", 1_000_001.0)))
    clock.now = 1_000_002.0
    assert len(store._idempotency) == memory_state.PURGE_EVERY - 1
    run(store.put_idempotency(record("fresh", 1_000_100.0)))
    assert list(store._idempotency) == ["fresh"]  # memory stays bounded


def test_memory_claims_lapse(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeTime(500.0)
    fake_memory_time(monkeypatch, clock)
    store = MemoryStore()
    assert run(store.begin_idempotency("k", "a", 30)) is Claim.CLAIMED_FRESH
    clock.now = 529.9
    assert run(store.begin_idempotency("k", "b", 30)) is Claim.BUSY
    clock.now = 530.0  # a claim lapses: a dead process cannot block a key for ever
    assert run(store.begin_idempotency("k", "b", 30)) is Claim.CLAIMED_FRESH

"""Every invariant of the soak can fail: each check is fed a clean record of a
small run (nothing to report) and then the same record with one thing broken."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.soak import checks
from tests.soak.harness import Exit
from tests.soak.records import (
    AckedOrder,
    ActorSample,
    Delivery,
    Exchange,
    Fault,
    GaveUp,
    LogLine,
    Observed,
    StockLevel,
    StoreOrder,
    StoreSession,
)

SID, OID, TOTAL = "cs_1", "ord_1", 5000
OPEN_SID = "cs_2"
USES = "promotion:launch"  # a code with two uses, one taken by the order


def clean() -> Observed:
    """One completed checkout (with a usage-limited code) with its charge and webhook,
    one open session holding a unit, a killed actor with its crash line, and a 503
    during an instance kill."""
    o = Observed(
        bound_seconds=8.0,
        fault_grace_seconds=8.0,
        lease_ttl=2.0,
        orphan_hold_seconds=67.0,
        webhook_lag_seconds=10.0,
    )
    order = StoreOrder(SID, OID, TOTAL, "pi_1", TOTAL, {"gadget": 2, USES: 1})
    o.sessions = {
        SID: StoreSession(SID, "completed", {"gadget": 2}, order),
        OPEN_SID: StoreSession(OPEN_SID, "ready_for_payment", {"gadget": 1}),
    }
    o.order_pointers = {OID: SID}
    o.admin_orders = {OID: 200}
    o.acked = {SID: AckedOrder(SID, OID, TOTAL, at=5.0)}
    o.intents = [
        {"id": "pi_1", "status": "succeeded", "amount": TOTAL,
         "metadata": {"checkout_session_id": SID}},
        {"id": "pi_2", "status": "requires_payment_method", "amount": TOTAL,
         "metadata": {"checkout_session_id": OPEN_SID}},
    ]  # fmt: skip
    o.deliveries = [
        Delivery("evt_1", "order_create", OID, SID, 200, True, accepted_at=5.5),
        Delivery("evt_1", "order_create", OID, SID, 200, True, accepted_at=5.5),  # again
    ]
    o.stock = [StockLevel("gadget", 100, 98, 1, {OPEN_SID: 1}), StockLevel(USES, 2, 1, 0, {})]
    o.hold_ages = {OPEN_SID: 3.0}
    o.faults = [Fault("kill_instance", "b", 10.0, 12.0), Fault("kill_sessions", "a", 20.0, 20.1)]
    o.exchanges = [
        Exchange(0, 1, "create", "k1", "a", 1.0, 1.05, 201),
        Exchange(0, 1, "complete", "k2", "b", 4.0, 4.2, 200),
        Exchange(1, 1, "create", "k3", "b", 10.5, 10.6, 0, error="ConnectError"),
        Exchange(1, 1, "create", "k3", "c", 11.0, 11.5, 503, "unavailable", "1"),
        Exchange(1, 1, "create", "k3", "c", 12.0, 12.1, 409, "idempotency_in_flight", "1"),
        Exchange(1, 1, "create", "k3", "a", 13.0, 13.1, 201),
    ]
    o.exits = [Exit("b", 0, -9, 10.0, expected=True)]
    o.stop_codes = {"a#0": 0, "b#1": 0}
    o.killed = {("a", 0): {"cs_9"}}
    o.logs = [
        LogLine("a", 0, "", {"event": "actor_killed_by_operator", "level": "warning"}),
        LogLine(
            "a", 0, "",
            {"event": "actor_crashed", "kind": "session", "error": "ActorKilled",
             "actor": "cs_9", "level": "warning"},
        ),
    ]  # fmt: skip
    o.samples = [ActorSample(1.0, {"a": {SID}, "b": {OPEN_SID}})]
    o.outbox_counts = {"delivered": 1, "pending": 0, "in_flight": 0, "dead": 0}
    o.reads = [(SID, 200, "completed", OID), (OPEN_SID, 200, "ready_for_payment", None)]
    return o


def test_a_clean_run_passes_every_check() -> None:
    assert checks.run_checks(clean()) == []


def _set_intent_status(o: Observed) -> None:
    o.intents[1]["status"] = "succeeded"


def _double_charge(o: Observed) -> None:
    o.intents.append({**o.intents[0], "id": "pi_3"})


def _lost_ack(o: Observed) -> None:
    o.sessions[SID].order = None
    o.sessions[SID].status = "ready_for_payment"


def _unacked_order(o: Observed) -> None:
    del o.acked[SID]


def _late_webhook(o: Observed) -> None:
    o.acked[SID].at = 40.0  # no fault from then on
    for d in o.deliveries:
        d.accepted_at = 60.0


def _second_event(o: Observed) -> None:
    o.deliveries.append(Delivery("evt_2", "order_create", OID, SID, 200, True, 6.0))


def _no_webhook(o: Observed) -> None:
    o.deliveries = []


def _bad_signature(o: Observed) -> None:
    o.deliveries.append(Delivery("evt_1", "order_create", OID, SID, 401, False))


def _oversold(o: Observed) -> None:
    o.stock[0].on_hand = 97


def _negative(o: Observed) -> None:
    o.stock[0] = StockLevel("gadget", 100, 0, 1, {OPEN_SID: 1})
    o.sessions[SID].order.sold["gadget"] = 100  # type: ignore[union-attr]


def _reserved_sum(o: Observed) -> None:
    o.stock[0].reserved = 2


def _stale_hold(o: Observed) -> None:
    o.sessions[OPEN_SID].status = "canceled"
    o.hold_ages[OPEN_SID] = 120.0


def _use_without_order(o: Observed) -> None:
    o.stock[1].on_hand = 0  # taken by a session that placed no order


def _use_sold_with_an_order_without_it(o: Observed) -> None:
    """The completed session holds a use (its sale pending), but its order has no discount."""
    o.stock[1] = StockLevel(USES, 2, 1, 1, {SID: 1})
    del o.sessions[SID].order.sold[USES]  # type: ignore[union-attr]


def _more_orders_than_uses(o: Observed) -> None:
    """Two orders got the code while it had one use, never taken (not held at complete)."""
    o.stock[1] = StockLevel(USES, 1, 1, 0, {})
    second = StoreOrder(OPEN_SID, "ord_2", TOTAL, "pi_2", TOTAL, {USES: 1})
    o.sessions[OPEN_SID] = StoreSession(OPEN_SID, "completed", {}, second)


def _use_kept_by_expired_session(o: Observed) -> None:
    o.stock[1] = StockLevel(USES, 2, 1, 1, {OPEN_SID: 1})
    o.sessions[OPEN_SID].status = "expired"
    o.hold_ages[OPEN_SID] = 120.0


def _walk_away_after_decline(o: Observed, at: float) -> None:
    """The open session's complete was declined at `at` and its agent left it, and
    it still holds the code's use."""
    o.stock[1] = StockLevel(USES, 2, 1, 1, {OPEN_SID: 1})
    o.exchanges.append(Exchange(1, 2, "complete", "k8", "a", at, at + 0.1, 200))
    o.walked_away[OPEN_SID] = "k8"


def _use_kept_after_decline(o: Observed) -> None:
    _walk_away_after_decline(o, at=14.0)  # 2 s after instance b was back


def _use_kept_after_decline_beside_a_kill_of_other_sessions(o: Observed) -> None:
    _walk_away_after_decline(o, at=20.05)  # only cs_9 was killed then


def _error_500(o: Observed) -> None:
    o.exchanges.append(Exchange(2, 1, "update", "k9", "a", 11.0, 11.1, 500, "internal_error"))


def _no_retry_after(o: Observed) -> None:
    o.exchanges[3].retry_after = None


def _503_in_calm(o: Observed) -> None:
    o.exchanges.append(Exchange(2, 1, "update", "k9", "a", 40.0, 40.1, 503, "timeout", "1"))


def _lost_connection_in_calm(o: Observed) -> None:
    o.exchanges.append(Exchange(2, 1, "update", "k9", "a", 40.0, 40.1, 0, error="ReadError"))


def _slow(o: Observed) -> None:
    o.exchanges.append(Exchange(2, 1, "update", "k9", "a", 1.0, 9.5, 200))


def _long_in_flight(o: Observed) -> None:
    o.exchanges.append(
        Exchange(1, 1, "create", "k3", "c", 60.0, 60.1, 409, "idempotency_in_flight", "1")
    )


def _bad_schema(o: Observed) -> None:
    o.exchanges[0].schema_error = "'id' is a required property"


def _unexpected(o: Observed) -> None:
    o.unexpected_answers.append("agent 0 checkout 2 address: 404 not_found")


def _gave_up(o: Observed) -> None:
    o.gave_up.append(GaveUp(0, 3, "complete", "k7", "409 idempotency_in_flight"))


def _exit(o: Observed) -> None:
    o.exits.append(Exit("c", 0, 1, 30.0, expected=False))


def _unclean_stop(o: Observed) -> None:
    o.stop_codes["a#0"] = -15


def _not_healed(o: Observed) -> None:
    o.healed, o.heal_problem = False, "waiting for c (/ready 503)"


def _type_error(o: Observed) -> None:
    o.logs.append(
        LogLine(
            "a", 0, "",
            {"event": "actor_crashed", "kind": "session", "error": "TypeError",
             "actor": "cs_9", "level": "warning"},
        )
    )  # fmt: skip


def _crash_of_another_actor(o: Observed) -> None:
    o.logs.append(
        LogLine(
            "b", 0, "",
            {"event": "actor_crashed", "kind": "session", "error": "ActorKilled",
             "actor": "cs_9", "level": "warning"},
        )
    )  # fmt: skip


def _unhandled(o: Observed) -> None:
    o.logs.append(LogLine("a", 0, "", {"event": "unhandled_error", "level": "error"}))


def _traceback(o: Observed) -> None:
    o.logs.append(LogLine("c", 0, "Traceback (most recent call last):", None))


def _split_brain(o: Observed) -> None:
    o.samples = [ActorSample(t / 2, {"a": {SID}, "b": {SID}}) for t in range(20)]


def _outbox_left(o: Observed) -> None:
    o.outbox_counts = {"delivered": 1, "pending": 2, "in_flight": 0, "dead": 0}


def _dead_event(o: Observed) -> None:
    o.outbox_counts = {"delivered": 1, "pending": 0, "in_flight": 0, "dead": 1}


def _stale_read(o: Observed) -> None:
    o.reads[0] = (SID, 200, "ready_for_payment", None)


def _pointer(o: Observed) -> None:
    o.order_pointers = {}


def _admin_404(o: Observed) -> None:
    o.admin_orders[OID] = 404


BREAKS: dict[str, tuple[Callable[[Observed], None], str]] = {
    "charge_without_order": (_set_intent_status, "charges.without_order"),
    "double_charge": (_double_charge, "charges.one_per_order"),
    "acknowledged_order_lost": (_lost_ack, "orders.acknowledged_in_store"),
    "order_nobody_was_told": (_unacked_order, "orders.store_acknowledged"),
    "order_pointer_missing": (_pointer, "orders.index"),
    "admin_api_404": (_admin_404, "orders.admin_api"),
    "webhook_late": (_late_webhook, "webhooks.lag"),
    "second_order_create": (_second_event, "webhooks.order_create"),
    "no_order_create": (_no_webhook, "webhooks.order_create"),
    "bad_signature": (_bad_signature, "webhooks.signature"),
    "units_lost": (_oversold, "stock.conservation"),
    "negative_stock": (_negative, "stock.negative"),
    "reserved_not_sum": (_reserved_sum, "stock.reserved"),
    "stale_hold": (_stale_hold, "stock.stale_holds"),
    "use_without_order": (_use_without_order, "stock.conservation"),
    "use_sold_with_an_order_without_it": (_use_sold_with_an_order_without_it, "stock.conservation"),
    "more_orders_than_uses": (_more_orders_than_uses, "stock.oversold"),
    "use_kept_by_expired_session": (_use_kept_by_expired_session, "stock.stale_holds"),
    "use_kept_after_decline": (_use_kept_after_decline, "stock.over_held"),
    "use_kept_after_decline_beside_a_kill_of_other_sessions": (
        _use_kept_after_decline_beside_a_kill_of_other_sessions,
        "stock.over_held",
    ),
    "status_500": (_error_500, "errors.5xx_status"),
    "no_retry_after": (_no_retry_after, "errors.retry_after"),
    "503_without_fault": (_503_in_calm, "errors.5xx_outside_fault"),
    "lost_connection_without_fault": (_lost_connection_in_calm, "errors.transport_outside_fault"),
    "slow_request": (_slow, "latency.bound"),
    "long_in_flight": (_long_in_flight, "idempotency.in_flight_streak"),
    "schema": (_bad_schema, "answers.schema"),
    "unexpected_answer": (_unexpected, "answers.unexpected"),
    "gave_up": (_gave_up, "agents.gave_up"),
    "own_exit": (_exit, "processes.exits"),
    "unclean_stop": (_unclean_stop, "processes.stop_status"),
    "not_healed": (_not_healed, "processes.healed"),
    "type_error_crash": (_type_error, "logs.crashes"),
    "crash_of_an_actor_not_killed_there": (_crash_of_another_actor, "logs.crashes"),
    "unhandled_error": (_unhandled, "logs.crashes"),
    "traceback": (_traceback, "logs.crashes"),
    "split_brain": (_split_brain, "cluster.split_brain"),
    "outbox_not_drained": (_outbox_left, "outbox.drained"),
    "dead_webhook": (_dead_event, "outbox.drained"),
    "stale_read": (_stale_read, "reads.consistent"),
}


@pytest.mark.parametrize("name", sorted(BREAKS))
def test_each_check_fails_when_its_invariant_breaks(name: str) -> None:
    breaks, check = BREAKS[name]
    observed = clean()
    breaks(observed)
    found = {p.check for p in checks.run_checks(observed)}
    assert check in found, found


@pytest.mark.parametrize("at", [11.0, 12.5])
def test_a_use_a_fault_kept_from_going_back_after_a_decline_may_wait_for_the_end(
    at: float,
) -> None:
    o = clean()
    _walk_away_after_decline(o, at)  # while instance b was down, or just after
    assert checks.run_checks(o) == []


def test_a_use_a_kill_of_its_session_kept_from_going_back_may_wait_for_the_end() -> None:
    o = clean()
    _walk_away_after_decline(o, at=20.05)
    o.killed[("a", 0)].add(OPEN_SID)
    assert checks.run_checks(o) == []

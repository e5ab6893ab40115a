"""What the soak records while it runs and reads back at the end: plain data,
so the checks (`checks.py`) are pure functions that a unit test can feed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RETRYABLE_5XX = frozenset({502, 503})
IN_FLIGHT = "idempotency_in_flight"


@dataclass
class Exchange:
    """One HTTP request of an agent and what came back (status 0: no answer)."""

    agent: int
    checkout: int
    step: str  # create | address | shipping | complete | cancel
    key: str  # the Idempotency-Key
    instance: str
    started: float  # time.monotonic()
    ended: float
    status: int
    code: str | None = None  # the error code of an error body
    retry_after: str | None = None
    error: str | None = None  # the exception of a request that got no answer
    schema_error: str | None = None
    resumed: bool = False  # sent after healing, to finish what the agent gave up on

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    @property
    def retryable(self) -> bool:
        """What a real agent retries with the same key and body."""
        return (
            self.status == 0
            or self.status in RETRYABLE_5XX
            or (self.status == 409 and self.code == IN_FLIGHT)
        )


@dataclass
class Fault:
    """One fault the soak caused; [started, ended] is when it was in effect
    (ended: healed, e.g. the restarted instance answered /health)."""

    kind: str
    target: str
    started: float
    ended: float
    detail: str = ""

    @property
    def takes_instance_down(self) -> bool:
        return self.kind in ("kill_instance", "unexpected_exit")

    @property
    def cuts_holds(self) -> bool:
        """Whether a hold or release under way may fail, or be cut off, by it."""
        return (
            self.takes_instance_down
            or self.kind in ("kill_sessions", "restart_redis")
            or (self.kind == "kill_service" and self.target.endswith("/inventory"))
        )

    @property
    def delays_webhooks(self) -> bool:
        return (
            self.takes_instance_down
            or self.kind in ("restart_redis", "receiver_errors")
            or (self.kind == "kill_service" and self.target.endswith("/webhooks"))
        )


@dataclass
class GaveUp:
    """A step an agent stopped retrying at its deadline (resumed after healing)."""

    agent: int
    checkout: int
    step: str
    key: str
    last: str  # the last answers, for the report
    resolved: bool = False  # a final answer came when resumed


@dataclass
class AckedOrder:
    """complete answered 200, status completed, with an order."""

    session_id: str
    order_id: str
    total: int
    at: float = 0.0  # soak seconds of the answer
    late: bool = False  # only when resumed after healing


@dataclass
class StoreOrder:
    session_id: str
    order_id: str
    total: int
    payment_reference: str
    payment_amount: int
    # stock key -> units the order took: its lines' products, and one use of each
    # usage-limited promotion it applied
    sold: dict[str, int]


@dataclass
class StoreSession:
    id: str
    status: str
    # product -> units of its lines (never a promotion's use: one is held only while a
    # complete runs)
    wanted: dict[str, int]
    order: StoreOrder | None = None


@dataclass
class StockLevel:
    product: str  # the stock key: a product, or `promotion:<id>` (the promotion's uses)
    initial: int
    on_hand: int
    reserved: int
    holds: dict[str, int]  # holder (a session id) -> units


@dataclass
class Delivery:
    """One webhook POST the receiver got."""

    event_id: str | None
    event_type: str | None
    order_id: str | None
    session_id: str | None
    status: int
    signature_ok: bool
    accepted_at: float | None = None  # soak seconds of the event's first 200


@dataclass
class LogLine:
    instance: str
    incarnation: int
    text: str
    entry: dict[str, Any] | None


@dataclass
class ActorSample:
    """The live session actors of every instance that answered, at one moment."""

    at: float
    live: dict[str, set[str]]  # instance name -> session ids


@dataclass
class Observed:
    """Everything the checks look at."""

    bound_seconds: float  # no request may take longer
    fault_grace_seconds: float  # 5xx and lost connections only this long after a fault
    lease_ttl: float
    orphan_hold_seconds: float  # a hold of no open session must be gone after this
    webhook_lag_seconds: float  # order_create arrives this soon after the order, unless a
    # fault that delays deliveries (an instance, Redis, the webhooks actor, the receiver) hit
    exchanges: list[Exchange] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    gave_up: list[GaveUp] = field(default_factory=list)
    unexpected_answers: list[str] = field(default_factory=list)
    # session id -> Idempotency-Key of the declined complete its agent walked away from
    walked_away: dict[str, str] = field(default_factory=dict)
    acked: dict[str, AckedOrder] = field(default_factory=dict)  # by session id
    sessions: dict[str, StoreSession] = field(default_factory=dict)
    order_pointers: dict[str, str] = field(default_factory=dict)  # order id -> session id
    admin_orders: dict[str, int] = field(default_factory=dict)  # order id -> admin GET status
    intents: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    stock: list[StockLevel] = field(default_factory=list)
    hold_ages: dict[str, float] = field(default_factory=dict)  # holder -> seconds since held
    exits: list[Any] = field(default_factory=list)  # harness.Exit
    stop_codes: dict[str, int | None] = field(default_factory=dict)
    logs: list[LogLine] = field(default_factory=list)
    killed: dict[tuple[str, int], set[str]] = field(default_factory=dict)  # actor ids per process
    samples: list[ActorSample] = field(default_factory=list)
    outbox_counts: dict[str, int] | None = None
    reads: list[tuple[str, int, str | None, str | None]] = field(default_factory=list)
    # the store's status of a session read again after its API read (it may have expired)
    later_status: dict[str, str] = field(default_factory=dict)
    healed: bool = True
    heal_problem: str = ""

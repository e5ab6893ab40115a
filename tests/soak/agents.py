"""Agents: each runs whole checkouts, one after another, the way a real agent
would, over random instances, and retries every step with the same
Idempotency-Key and the same body on 502, 503, 409 idempotency_in_flight and
lost connections (honouring Retry-After) until it gets a final answer or its
deadline passes.

A checkout: create (API 2026-04-17, the discount extension negotiated) with
random lines and sometimes discount codes; cancel it when a line is out of stock;
a few are left open on purpose (abandoned carts: their holds stay until they
expire); otherwise the address, sometimes a shipping choice, then complete with a
fresh Stripe Shared Payment Token. A few tokens are scripted to be declined at the
fake Stripe; the agent then pays again with a new token, or walks away (the
session stays open, and must give back the code's use its complete held). A
complete that finds the last use of LAUNCH taken by another session charges
nothing and shows the new total; the agent pays that.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import trio

from tests import acp_schema
from tests.soak.harness import API_KEY, EBOOK, GADGET, LAUNCH, SAVE, SCARCE, SoakInstance
from tests.soak.records import AckedOrder, Exchange, GaveUp

VERSION = "2026-04-17"
HEADERS = {"Authorization": f"Bearer {API_KEY}", "API-Version": VERSION}
ADDRESS = {
    "name": "Jane Doe",
    "line_one": "1 Market St",
    "city": "San Francisco",
    "state": "CA",
    "country": "US",
    "postal_code": "94105",
}
RETRY_AFTER_CAP = 5.0
TRANSPORT_BACKOFF = (0.05, 0.3)
USED_UP = "discount_code_usage_limit_reached"


@dataclass
class AgentPlan:
    """How agents behave (probabilities per checkout)."""

    abandon: float = 0.05
    choose_shipping: float = 0.5
    decline: float = 0.05
    walk_away: float = 0.5  # of the declined: leave the session open instead of paying again
    launch: float = 0.5  # send the usage-limited code
    save: float = 0.3  # send the unlimited one
    scarce: float = 0.25
    ebook: float = 0.3
    think: tuple[float, float] = (0.01, 0.08)


@dataclass
class Step:
    name: str
    path: str
    body: dict[str, Any]
    key: str


@dataclass
class Ledger:
    """What all agents share: the record of the run."""

    clock: Callable[[], float]  # seconds since the soak started
    exchanges: list[Exchange] = field(default_factory=list)
    acked: dict[str, AckedOrder] = field(default_factory=dict)
    gave_up: list[GaveUp] = field(default_factory=list)
    unfinished: list[tuple[GaveUp, Step, int]] = field(default_factory=list)  # + agent seed
    unexpected: list[str] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    sessions: set[str] = field(default_factory=set)
    declined_tokens: set[str] = field(default_factory=set)
    walked_away: dict[str, str] = field(default_factory=dict)  # see `Observed.walked_away`

    def outcome(self, name: str) -> None:
        self.outcomes[name] = self.outcomes.get(name, 0) + 1


def total_of(body: dict[str, Any]) -> int:
    return int(next(t["amount"] for t in body["totals"] if t["type"] == "total"))


def has_message(body: dict[str, Any], code: str) -> bool:
    return any(m.get("code") == code for m in body.get("messages") or [])


def code_used_up(body: dict[str, Any], paying: int) -> bool:
    """A complete that found a code's last use taken meanwhile: nothing charged,
    the code refused, and a new total shown instead of the one being paid."""
    rejected = (body.get("discounts") or {}).get("rejected") or []
    return (
        body["status"] == "ready_for_payment"
        and total_of(body) != paying
        and any(r["reason"] == USED_UP for r in rejected)
    )


def pay(token: str) -> dict[str, Any]:
    return {
        "payment_data": {
            "handler_id": "card_tokenized",
            "instrument": {"type": "card", "credential": {"type": "spt", "token": token}},
        }
    }


class Agent:
    def __init__(
        self,
        number: int,
        seed: int,
        instances: list[SoakInstance],
        ledger: Ledger,
        plan: AgentPlan,
        deadline: float,
        request_timeout: float,
        decline: Callable[[str], None],
    ) -> None:
        self.number = number
        self.rng = random.Random(f"{seed}-agent-{number}")
        self.seed = seed
        self.instances = instances
        self.ledger = ledger
        self.plan = plan
        self.deadline = deadline
        self.decline = decline  # scripts the fake Stripe to decline a token
        # No keep-alive: every request opens its own connection, so a lost
        # connection always belongs to the request that lost it.
        self.http = httpx.AsyncClient(
            headers=HEADERS,
            timeout=request_timeout,
            limits=httpx.Limits(max_keepalive_connections=0),
        )
        self.checkouts = 0
        self.hard_stop = float("inf")  # no step of the load retries past this

    async def aclose(self) -> None:
        await self.http.aclose()

    async def run(self, until: float) -> None:
        """Checkouts back to back until `until` (soak seconds); the last one ends,
        within one deadline after `until` (steps still retried then give up)."""
        self.hard_stop = until + self.deadline
        while self.ledger.clock() < until:
            self.checkouts += 1
            try:
                await self.checkout(self.checkouts)
            except (KeyError, TypeError, ValueError, StopIteration, IndexError) as exc:
                # An answer without what its schema promises (also reported by the schema check).
                self.ledger.unexpected.append(
                    f"agent {self.number} checkout {self.checkouts}: malformed answer "
                    f"({type(exc).__name__}: {exc})"
                )

    # one checkout ----------------------------------------------------------------

    def _key(self, checkout: int, name: str) -> str:
        return f"soak-{self.seed}-a{self.number}-c{checkout}-{name}"

    def _lines(self) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = []
        r, plan = self.rng, self.plan
        if r.random() < 0.85:
            lines.append({"id": GADGET, "quantity": r.randint(1, 3)})
        if r.random() < plan.scarce:
            lines.append({"id": SCARCE, "quantity": 1})
        if not lines or r.random() < plan.ebook:
            lines.append({"id": EBOOK, "quantity": 1})
        return lines

    def _codes(self) -> list[str]:
        chances = ((LAUNCH, self.plan.launch), (SAVE, self.plan.save))
        return [code for code, chance in chances if self.rng.random() < chance]

    async def checkout(self, n: int) -> None:
        lines = self._lines()
        physical = any(line["id"] != EBOOK for line in lines)
        create = Step(
            "create",
            "/checkout_sessions",
            {
                "currency": "usd",
                "capabilities": {"extensions": ["discount"]},
                "line_items": lines,
                "discounts": {"codes": self._codes()},
            },
            self._key(n, "create"),
        )
        body = await self.final(create, n, {201})
        if body is None:
            return
        sid = body["id"]
        self.ledger.sessions.add(sid)
        if has_message(body, "out_of_stock"):
            cancel = Step(
                "cancel",
                f"/checkout_sessions/{sid}/cancel",
                {"intent_trace": {"reason_code": "other", "trace_summary": "out of stock"}},
                self._key(n, "cancel"),
            )
            if await self.final(cancel, n, {200}, status="canceled") is not None:
                self.ledger.outcome("out_of_stock_canceled")
            return
        if self.rng.random() < self.plan.abandon:
            self.ledger.outcome("abandoned_open")
            return
        if physical:
            address = Step(
                "address",
                f"/checkout_sessions/{sid}",
                {"fulfillment_details": {"name": ADDRESS["name"], "address": ADDRESS}},
                self._key(n, "address"),
            )
            body = await self.final(address, n, {200}, status="ready_for_payment")
            if body is None:
                return
            if self.rng.random() < self.plan.choose_shipping:
                body = await self.choose_shipping(n, sid, body)
                if body is None:
                    return
        await self.complete(n, sid, total_of(body))

    async def choose_shipping(
        self, n: int, sid: str, body: dict[str, Any]
    ) -> dict[str, Any] | None:
        options = [o["id"] for o in body["fulfillment_options"] if o["type"] == "shipping"]
        chosen = self.rng.choice(options)
        selected = [
            {**s, "option_id": chosen} if s["type"] == "shipping" else s
            for s in body["selected_fulfillment_options"]
        ]
        step = Step(
            "shipping",
            f"/checkout_sessions/{sid}",
            {"selected_fulfillment_options": selected},
            self._key(n, "shipping"),
        )
        return await self.final(step, n, {200}, status="ready_for_payment")

    async def complete(self, n: int, sid: str, total: int) -> None:
        """Pay `total`: at most a declined card (the first), a code used up
        meanwhile (once: it stays refused), then the order."""
        decline = self.rng.random() < self.plan.decline
        used_up = False
        for attempt in range(3):
            token = f"spt_soak_{self.seed}_a{self.number}_c{n}_{attempt}"
            declined = decline and attempt == 0
            if declined:
                self.decline(token)
                self.ledger.declined_tokens.add(token)
            step = Step(
                "complete",
                f"/checkout_sessions/{sid}/complete",
                pay(token),
                self._key(n, f"complete{attempt}"),
            )
            body = await self.final(step, n, {200})
            if body is None:
                return
            if not used_up and code_used_up(body, total):
                used_up = True
                total = total_of(body)  # the buyer agrees to the new total
                self.ledger.outcome("code_used_up_at_complete")
                continue
            if not declined:
                self.acknowledge(step, n, sid, body, total)
                return
            if body["status"] != "ready_for_payment" or not has_message(body, "payment_declined"):
                self.unexpected(step, n, 200, f"status {body['status']} for a declined token")
                return
            if self.rng.random() < self.plan.walk_away:
                self.ledger.walked_away[sid] = step.key
                self.ledger.outcome("declined_then_walked_away")
                return
            self.ledger.outcome("declined_then_paid_again")

    def acknowledge(
        self, step: Step, n: int, sid: str, body: dict[str, Any], total: int, late: bool = False
    ) -> None:
        order = body.get("order") or {}
        if body.get("status") == "completed" and order.get("id"):
            if total_of(body) != total:
                self.unexpected(step, n, 200, f"total {total_of(body)} != quoted {total}")
            self.ledger.acked[sid] = AckedOrder(
                sid, order["id"], total_of(body), at=self.ledger.clock(), late=late
            )
            self.ledger.outcome("completed_late" if late else "completed")
        elif body.get("status") == "ready_for_payment" and has_message(body, "out_of_stock"):
            self.ledger.outcome("out_of_stock_at_complete")  # the hold was lost: reported
            self.unexpected(step, n, 200, "out_of_stock at complete after a successful hold")
        else:
            self.unexpected(step, n, 200, f"complete ended {body.get('status')}")

    # one step, retried -------------------------------------------------------------

    def unexpected(self, step: Step, n: int, status: int, detail: str) -> None:
        self.ledger.unexpected.append(
            f"agent {self.number} checkout {n} {step.name} ({step.key}): {status} {detail}"
        )

    async def final(
        self, step: Step, n: int, ok: set[int], status: str | None = None
    ) -> dict[str, Any] | None:
        """The step's final answer when it is one of `ok` (and has `status`);
        None when it is not (recorded as unexpected) or the deadline passed."""
        answer = await self.send(step, n, min(self.ledger.clock() + self.deadline, self.hard_stop))
        if answer is None:
            return None
        code, body = answer
        if code in ok and not isinstance(body, dict):
            self.unexpected(step, n, code, "the body is not a JSON object")
            return None
        if code not in ok:
            detail = body.get("code") if isinstance(body, dict) else body
            if code == 400 and detail in ("session_expired", "session_canceled"):
                self.ledger.outcome(f"{step.name}_{detail}")  # a slow agent meets the TTL
            else:
                self.unexpected(step, n, code, str(detail)[:200])
            return None
        if status is not None and body.get("status") != status:
            self.unexpected(step, n, code, f"status {body.get('status')}, expected {status}")
            return None
        await trio.sleep(self.rng.uniform(*self.plan.think))
        return body  # type: ignore[no-any-return]

    async def send(
        self, step: Step, n: int, deadline: float, resumed: bool = False
    ) -> tuple[int, Any] | None:
        """POST until a final answer (status, body), or None at the deadline."""
        last: list[str] = []
        while True:
            instance = self.rng.choice(self.instances)
            exchange, body = await self._post(instance, step, n, resumed)
            last = [*last[-4:], exchange.error or f"{exchange.status} {exchange.code or ''}"]
            if not exchange.retryable:
                return exchange.status, body
            if exchange.status == 0:
                pause = self.rng.uniform(*TRANSPORT_BACKOFF)
            else:
                pause = min(retry_after(exchange.retry_after), RETRY_AFTER_CAP)
            if self.ledger.clock() + pause > deadline:
                gave_up = GaveUp(self.number, n, step.name, step.key, " / ".join(last))
                if not resumed:
                    self.ledger.gave_up.append(gave_up)
                    self.ledger.unfinished.append((gave_up, step, n))
                return None
            await trio.sleep(pause)

    async def _post(
        self, instance: SoakInstance, step: Step, n: int, resumed: bool
    ) -> tuple[Exchange, Any]:
        """One request, recorded; the exchange and the answer's JSON body (if any)."""
        clock = self.ledger.clock
        started = clock()
        headers = {"Idempotency-Key": step.key}
        body: Any = None
        try:
            response = await self.http.post(
                instance.base_url + step.path, json=step.body, headers=headers
            )
        except httpx.HTTPError as exc:
            exchange = Exchange(
                self.number, n, step.name, step.key, instance.name, started, clock(), 0,
                error=type(exc).__name__, resumed=resumed,
            )  # fmt: skip
            self.ledger.exchanges.append(exchange)
            return exchange, None
        ended = clock()
        exchange = Exchange(
            self.number, n, step.name, step.key, instance.name, started, ended,
            response.status_code, retry_after=response.headers.get("Retry-After"),
            resumed=resumed,
        )  # fmt: skip
        try:
            body = response.json()
        except ValueError:
            exchange.schema_error = f"not JSON: {response.text[:120]!r}"
        else:
            exchange.schema_error = schema_problem(response.status_code, body)
            if response.status_code >= 400 and isinstance(body, dict):
                exchange.code = body.get("code")
        self.ledger.exchanges.append(exchange)
        return exchange, body


def schema_problem(status: int, body: Any) -> str | None:
    try:
        if 200 <= status < 300:
            acp_schema.assert_checkout_session(VERSION, body)
        else:
            acp_schema.assert_error(VERSION, body)
    except AssertionError as exc:
        return str(exc).replace("\n", " ")[:300]
    return None


async def resume(agent: Agent, step: Step, gave_up: GaveUp, n: int, deadline: float) -> None:
    """After healing: the agent sends the step it gave up on again (same key and
    body). A complete that now answers completed is an acknowledged order."""
    answer = await agent.send(step, n, agent.ledger.clock() + deadline, resumed=True)
    if answer is None:
        gave_up.last += " / still no final answer after healing"
        return
    gave_up.resolved = True
    status, body = answer
    if step.name == "complete" and status == 200 and isinstance(body, dict):
        agent.acknowledge(step, n, body["id"], body, total_of(body), late=True)
    elif step.name == "create" and status == 201 and isinstance(body, dict):
        agent.ledger.sessions.add(body["id"])


def retry_after(value: str | None) -> float:
    """Seconds a Retry-After asks for (0.5 when it is missing or not a number)."""
    try:
        return max(0.0, float(value)) if value is not None else 0.5
    except ValueError:
        return 0.5

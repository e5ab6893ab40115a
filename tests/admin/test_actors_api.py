"""The operators' JSON API for actors: listing, one actor's state, kill, the tree, auth."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import trio

from agentic_commerce.domain.commands import PaymentCredential
from agentic_commerce.payments.base import ChargeRequest, PaymentOutcome, Processor
from agentic_commerce.payments.simulated import SimulatedProcessor
from tests import acp_schema
from tests.admin.conftest import ADMIN_KEY, BEARER, NEW, Admin, admin_app
from tests.http.conftest import address_update, payment
from tests.waiting import eventually

ACTOR_FIELDS = {
    "kind",
    "id",
    "status",
    "mailbox_depth",
    "restarts",
    "age_seconds",
    "idle_seconds",
    "session_status",
}
JSON_ROUTES = [
    ("GET", "/admin/actors"),
    ("GET", "/admin/actors/inventory"),
    ("POST", "/admin/actors/inventory/kill"),
    ("GET", "/admin/supervisor"),
]


class GatedProcessor(Processor):
    """Charges `tok_gate…` tokens once `release` is set: keeps a session actor busy."""

    name = "gated"

    def __init__(self) -> None:
        self.release = trio.Event()
        self.waiting = trio.Event()

    def accepts(self, credential: PaymentCredential) -> bool:
        return credential.token.startswith("tok_gate")

    async def charge(self, request: ChargeRequest) -> PaymentOutcome:
        self.waiting.set()
        await self.release.wait()
        return await SimulatedProcessor().charge(request)


def committed(session: dict[str, Any]) -> dict[str, Any]:
    """A session body without what is recomputed from the clock at each quote
    (delivery windows of the fulfillment options); their ids stay."""
    options = [o["id"] for o in session["fulfillment_options"]]
    return {**session, "fulfillment_options": options}


def ids(listing: dict[str, Any]) -> set[str]:
    return {a["id"] for a in listing["actors"]}


async def restarts_of(admin: Admin, actor_id: str) -> int:
    status, body = await admin.get(f"/admin/actors/{actor_id}")
    return int(body["restarts"]) if status == 200 else -1


async def test_listing_shows_services_and_sessions_with_their_info() -> None:
    async with admin_app() as admin:
        first, second = await admin.new_session(), await admin.new_session()
        status, listing = await admin.get("/admin/actors")
        assert status == 200 and listing["count"] == len(listing["actors"])
        assert {"inventory", "payment", first, second} <= ids(listing)
        for actor in listing["actors"]:
            assert set(actor) == ACTOR_FIELDS
            assert actor["status"] in ("busy", "idle") and actor["age_seconds"] >= 0
        [session] = [a for a in listing["actors"] if a["id"] == first]
        assert session["kind"] == "session"
        assert session["session_status"] == "not_ready_for_payment"


async def test_kind_and_status_filters() -> None:
    gate = GatedProcessor()
    async with admin_app(processors=[SimulatedProcessor(), gate]) as admin:
        idle = await admin.new_session(**address_update(NEW))
        busy = await admin.new_session(**address_update(NEW))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(admin.acp.complete, busy, payment(NEW, "tok_gate_1"))
            await gate.waiting.wait()
            _, sessions = await admin.get("/admin/actors?kind=session")
            assert ids(sessions) == {idle, busy}
            _, services = await admin.get("/admin/actors?kind=inventory")
            assert ids(services) == {"inventory"}
            _, busy_sessions = await admin.get("/admin/actors?kind=session&status=busy")
            assert ids(busy_sessions) == {busy}
            _, idle_actors = await admin.get("/admin/actors?status=idle")
            assert idle in ids(idle_actors) and busy not in ids(idle_actors)
            assert all(a["status"] == "idle" for a in idle_actors["actors"])
            gate.release.set()
        _, nothing = await admin.get("/admin/actors?kind=nonexistent")
        assert nothing == {"count": 0, "actors": []}
        status, error = await admin.get("/admin/actors?status=sleeping")
        assert status == 400 and error["code"] == "invalid_status"


async def test_one_session_actor_renders_its_session_with_secrets_redacted() -> None:
    async with admin_app() as admin:
        extra: dict[str, Any] = address_update(NEW)
        extra["capabilities"] = {"interventions": {"supported": ["3ds"]}}
        extra["metadata"] = {"campaign": "spring", "partner_api_key": "pk_live_123"}
        session_id = await admin.new_session(**extra)
        challenged = await admin.acp.complete(session_id, payment(NEW, "tok_test_3ds"))
        assert challenged.body["status"] == "authentication_required"

        status, body = await admin.get(f"/admin/actors/{session_id}")
        assert status == 200
        assert {k: body[k] for k in ("kind", "id", "session_status")} == {
            "kind": "session",
            "id": session_id,
            "session_status": "authentication_required",
        }
        assert set(body) >= ACTOR_FIELDS
        assert body["session"]["id"] == session_id
        assert body["session"]["metadata"] == {
            "campaign": "spring",
            "partner_api_key": "[redacted]",
        }
        acp_schema.assert_checkout_session(NEW, body["session"])
        assert body["internal"]["pending_payment"] == "[redacted]"
        assert body["internal"]["api_version"] == NEW
        text = orjson.dumps(body).decode()
        assert "pk_live_123" not in text and "tok_test" not in text and ADMIN_KEY not in text


async def test_one_service_actor_and_an_unknown_id() -> None:
    async with admin_app() as admin:
        status, body = await admin.get("/admin/actors/inventory")
        assert status == 200 and body["kind"] == "inventory" and "session" not in body
        status, error = await admin.get("/admin/actors/cs_unknown")
        assert status == 404 and error["code"] == "not_found"


@pytest.mark.kills_actors
async def test_kill_restarts_the_session_actor_with_its_committed_state_intact() -> None:
    async with admin_app() as admin:
        session_id = await admin.new_session(**address_update(NEW))
        before = await admin.acp.get(session_id)
        assert before.body["status"] == "ready_for_payment"

        status, body = await admin.post(f"/admin/actors/{session_id}/kill")
        assert status == 202 and body["id"] == session_id and body["killed"] is True

        async def restarted() -> bool:
            return await restarts_of(admin, session_id) == 1

        await eventually(restarted)
        after = await admin.acp.get(session_id)
        assert after.status == 200 and committed(after.body) == committed(before.body)
        _, tree = await admin.get("/admin/supervisor")
        sessions = tree["children"][1]
        assert sessions["intensity"]["recent_restarts"] == 1
        # The restarted actor still takes changes.
        done = await admin.acp.complete(session_id, payment(NEW))
        assert done.body["status"] == "completed"


@pytest.mark.kills_actors
async def test_kill_restarts_a_service_actor() -> None:
    async with admin_app() as admin:
        status, _ = await admin.post("/admin/actors/inventory/kill")
        assert status == 202

        async def restarted() -> bool:
            return await restarts_of(admin, "inventory") == 1

        await eventually(restarted)
        _, tree = await admin.get("/admin/supervisor")
        services = tree["children"][0]
        assert services["restarts"] == 1
        assert {c["id"]: c["restarts"] for c in services["children"]}["inventory"] == 1
        assert (
            await admin.acp.create(
                {"currency": "usd", "line_items": [{"id": "item_123"}], "capabilities": {}}
            )
        ).status == 201


async def test_kill_of_an_unknown_actor_is_404() -> None:
    async with admin_app() as admin:
        status, error = await admin.post("/admin/actors/cs_unknown/kill")
        assert status == 404 and error["code"] == "not_found"


async def test_kill_is_forbidden_when_disabled() -> None:
    async with admin_app(admin_allow_kill=False) as admin:
        session_id = await admin.new_session()
        status, error = await admin.post(f"/admin/actors/{session_id}/kill")
        assert status == 403 and error["code"] == "kill_disabled"
        await trio.sleep(0.05)
        assert await restarts_of(admin, session_id) == 0


async def test_supervision_tree_shape() -> None:
    async with admin_app() as admin:
        await admin.new_session()
        status, tree = await admin.get("/admin/supervisor")
        assert status == 200
        assert tree["name"] == "root" and tree["strategy"] == "one_for_one"
        assert set(tree["intensity"]) == {"max_restarts", "period_seconds", "recent_restarts"}
        services, sessions, carts = tree["children"]
        assert services["name"] == "services" and services["restarts"] == 0
        children = {c["id"]: c for c in services["children"]}
        assert {"inventory", "payment", "expiry_sweeper"} <= set(children)
        assert {c["restart"] for c in children.values()} == {"permanent"}
        assert {c["restarts"] for c in children.values()} == {0}
        inventory, sweeper = children["inventory"], children["expiry_sweeper"]
        assert inventory["killable"] and inventory["mailbox_depth"] == 0
        assert not sweeper["killable"] and sweeper["mailbox_depth"] is None  # a task
        assert sessions["name"] == "sessions" and sessions["live"] == 1
        assert sessions["restart"] == "transient" and sessions["subtree_restarts"] == 0
        (actor,) = sessions["children"]
        assert actor["kind"] == "session" and actor["restarts"] == 0 and actor["killable"]
        assert carts["name"] == "carts" and carts["live"] == 0 and carts["children"] == []


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
@pytest.mark.parametrize("authorization", [None, "Bearer wrong_key", f"Basic {ADMIN_KEY}"])
async def test_json_routes_need_the_bearer_key(
    method: str, path: str, authorization: str | None
) -> None:
    async with admin_app() as admin:
        headers = {"Authorization": authorization} if authorization else {}
        response = await admin.client.open(path, method=method, headers=headers)
        assert response.status_code == 401
        assert (await response.get_json())["code"] == "invalid_admin_key"
        assert await restarts_of(admin, "inventory") == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [*JSON_ROUTES, ("GET", "/admin/"), ("POST", "/admin/login"), ("GET", "/admin/ui/state")],
)
async def test_everything_is_404_without_an_admin_key(method: str, path: str) -> None:
    async with admin_app(admin_api_key=None) as admin:
        response = await admin.client.open(path, method=method, headers=BEARER)
        assert response.status_code == 404

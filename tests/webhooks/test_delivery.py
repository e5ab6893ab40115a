"""Order webhooks end to end: a real receiver on loopback, the real app and actors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import trio
import yaml

from agentic_commerce.actors.system import ActorSystem
from agentic_commerce.config.settings import Settings
from agentic_commerce.http.app import create_app
from agentic_commerce.protocol.traits import BY_VERSION
from agentic_commerce.store.memory import MemoryStore
from agentic_commerce.supervisor import load_catalog
from tests import acp_schema
from tests.fakes.webhook_receiver import FakeReceiver, running_receiver
from tests.http.conftest import VERSIONS, AcpClient, address_update, create_body, payment
from tests.waiting import eventually

NEW, OLD = VERSIONS[0], VERSIONS[-1]
SECRET = "whsec_test_secret"
ADMIN = {"Authorization": "Bearer admin_key_test"}
LEGACY = {"order_created": "order_create", "order_updated": "order_update"}


async def counted(system: ActorSystem, state: str, count: int) -> None:
    async def check() -> bool:
        return (await system.store.outbox_counts()).get(state, 0) >= count

    await eventually(check)


def summary(version: str) -> bool:
    """Events of this version carry the order's summary (status and refunds)."""
    return BY_VERSION[version].webhook_order == "summary"


def assert_event_summary(version: str, body: dict[str, Any]) -> None:
    """Summary webhook bodies exist only in the version's webhook OpenAPI file."""
    path = acp_schema.spec_dir() / version / "openapi" / "openapi.agentic_checkout_webhook.yaml"
    schemas = yaml.safe_load(Path(path).read_text())["components"]["schemas"]
    schema = dict(schemas["WebhookEvent"], components={"schemas": schemas})
    jsonschema.Draft202012Validator(schema, format_checker=acp_schema.FORMAT_CHECKER).validate(body)


def assert_event(version: str, body: dict[str, Any], name: str) -> None:
    assert body["type"] == name
    if summary(version):
        spec_name = LEGACY.get(name, name)  # legacy names are outside the schema by design
        assert_event_summary(version, dict(body, type=spec_name))
    else:
        acp_schema.validate(NEW, "Order", body["data"])
        assert body["data"]["type"] == "order"


@dataclass
class World:
    acp: AcpClient
    receiver: FakeReceiver
    system: ActorSystem


@asynccontextmanager
async def world(**changes: Any) -> AsyncIterator[World]:
    async with running_receiver(SECRET) as receiver:
        defaults: dict[str, Any] = {
            "webhook_url": receiver.url,
            "webhook_secret": SECRET,
            "webhook_retry_schedule": (0.05, 0.05, 0.05),
            "webhook_poll_seconds": 0.05,
            "webhook_timeout_seconds": 1.0,
            "admin_api_key": "admin_key_test",
        }
        settings = Settings(**{**defaults, **changes})
        system = ActorSystem(settings, MemoryStore(), load_catalog(settings))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(system.run)
            await system.sessions.wait_ready()
            async with create_app(system).test_app() as app:
                yield World(AcpClient(app.test_client()), receiver, system)
            nursery.cancel_scope.cancel()


async def order(acp: AcpClient, version: str) -> dict[str, Any]:
    client = acp.using(version)
    created = await client.create(create_body(version, **address_update(version)))
    done = await client.complete(created.body["id"], payment(version))
    assert done.body["status"] == "completed"
    return dict(done.body["order"])


async def admin(w: World, path: str, body: Any) -> Any:
    response = await w.acp._client.post(path, json=body, headers=ADMIN)
    return response.status_code, await response.get_json()


@pytest.mark.parametrize("version", VERSIONS)
async def test_order_create_is_signed_and_schema_valid(version: str) -> None:
    async with world() as w:
        placed = await order(w.acp, version)
        [delivery] = await w.receiver.wait_for(1)
        assert delivery.signature_ok
        assert_event(version, delivery.body, "order_create")
        assert delivery.body["data"]["checkout_session_id"] == placed["checkout_session_id"]
        for header in ("request-id", "timestamp", "webhook-event-id", "content-type"):
            assert delivery.headers[header]
        assert delivery.headers["merchant-signature"].startswith("t=")


async def test_failures_are_retried_with_the_same_event_id() -> None:
    async with world() as w:
        w.receiver.script = [500, 429, "slow"]
        w.receiver.slow_seconds = 2.0  # longer than the 1 s attempt timeout
        await order(w.acp, NEW)
        [accepted] = await w.receiver.wait_for(1)
        ids = {d.headers["webhook-event-id"] for d in w.receiver.deliveries}
        assert len(ids) == 1
        early = [(d.headers["webhook-attempt"], d.status) for d in w.receiver.deliveries[:2]]
        assert early == [("1", 500), ("2", 429)]
        # Attempt 3 outlived the 1 s timeout (the receiver records it only when done).
        assert accepted.headers["webhook-attempt"] == "4"


async def test_dead_letter_then_replay() -> None:
    async with world() as w:
        w.receiver.down = True
        await order(w.acp, NEW)
        await counted(w.system, "dead", 1)
        assert len(w.receiver.deliveries) == 4  # first try + the 3 delays of the schedule
        response = await w.acp._client.get("/admin/webhooks?state=dead", headers=ADMIN)
        listing = await response.get_json()
        [dead] = listing["events"]
        assert dead["attempts"] == 4 and dead["last_error"] == "HTTP 503"
        w.receiver.down = False
        status, replayed = await admin(w, f"/admin/webhooks/{dead['id']}/replay", {})
        assert status == 200 and replayed["state"] == "pending"
        await w.receiver.wait_for(1)
        await counted(w.system, "delivered", 1)


async def test_other_4xx_is_not_retried() -> None:
    async with world() as w:
        w.receiver.script = [400]
        await order(w.acp, NEW)
        await counted(w.system, "dead", 1)
        assert len(w.receiver.deliveries) == 1


@pytest.mark.parametrize("version", VERSIONS)
async def test_order_lifecycle_updates_arrive_in_order(version: str) -> None:
    async with world() as w:
        placed = await order(w.acp, version)
        path = f"/admin/orders/{placed['id']}"
        shipped = {"status": "shipped", "carrier": "UPS", "tracking_number": "1Z999"}
        assert (await admin(w, path, shipped))[0] == 200
        status, refunded = await admin(w, f"{path}/refunds", {"amount": 500, "reason": "dent"})
        assert status == 200
        assert refunded["adjustments"][0]["amount"] == 500
        assert (await admin(w, path, {"status": "completed"}))[0] == 200
        deliveries = await w.receiver.wait_for(4)
        names = [d.body["type"] for d in deliveries]
        assert names == ["order_create", "order_update", "order_update", "order_update"]
        for delivery in deliveries:
            assert_event(version, delivery.body, delivery.body["type"])
        statuses = [d.body["data"]["status"] for d in deliveries]
        last = "fulfilled" if summary(version) else "completed"
        assert statuses == ["created", "shipped", "shipped", last]
        final = deliveries[-1].body["data"]
        if summary(version):
            assert final["refunds"] == [{"type": "original_payment", "amount": 500}]
        else:
            assert final["fulfillments"][0]["tracking_number"] == "1Z999"
            refunded_total = [t for t in final["totals"] if t["type"] == "amount_refunded"]
            assert refunded_total[0]["amount"] == 500


async def test_lifecycle_rules() -> None:
    async with world() as w:
        placed = await order(w.acp, NEW)
        path = f"/admin/orders/{placed['id']}"
        charged = next(t["amount"] for t in placed["totals"] if t["type"] == "total")
        assert (await admin(w, path, {"status": "completed"}))[0] == 200
        status, body = await admin(w, path, {"status": "shipped"})
        assert status == 409 and body["code"] == "invalid_transition"
        assert (await admin(w, path, {"status": "canceled"}))[0] == 409
        assert (await admin(w, f"{path}/refunds", {"amount": charged}))[0] == 200
        status, body = await admin(w, f"{path}/refunds", {"amount": 1})
        assert status == 409 and body["code"] == "refund_exceeds_charge"
        assert (await admin(w, "/admin/orders/ord_missing", {"status": "shipped"}))[0] == 404


async def test_legacy_names_and_a_fixed_version() -> None:
    async with world(webhook_legacy_names=True, webhook_api_version=OLD) as w:
        await order(w.acp, NEW)
        [delivery] = await w.receiver.wait_for(1)
        assert_event(OLD, delivery.body, "order_created")


async def test_admin_routes_need_the_admin_key() -> None:
    async with world() as w:
        wrong = await w.acp._client.get("/admin/webhooks", headers={"Authorization": "Bearer x"})
        assert wrong.status_code == 401
        none = await w.acp._client.get("/admin/webhooks")
        assert none.status_code == 401


async def test_no_admin_key_means_no_admin_api() -> None:
    async with world(admin_api_key=None) as w:
        response = await w.acp._client.get("/admin/webhooks", headers=ADMIN)
        assert response.status_code == 404

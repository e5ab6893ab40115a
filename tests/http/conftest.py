"""The real app on a real actor system (each store), behind a client that checks
every ACP response body against the JSON Schema of its version."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
import trio

from agentic_commerce.actors.system import ActorSystem
from agentic_commerce.config.settings import Settings
from agentic_commerce.http.app import create_app
from agentic_commerce.protocol.traits import BY_VERSION
from agentic_commerce.protocol.versions import CODECS
from agentic_commerce.supervisor import load_catalog
from tests import acp_schema
from tests.stores import StoreFactory

NEWEST = "2026-04-17"
OLDEST = "2025-09-29"
# Every served version, newest first: the behaviour suites run for each.
VERSIONS = tuple(codec.version for codec in reversed(CODECS))
DEMO_KEY = "api_key_demo_123"


@dataclass
class Reply:
    status: int
    body: Any
    headers: Any  # case-insensitive


class AcpClient:
    """Sends ACP requests and validates every checkout response against the schema."""

    def __init__(self, client: Any, version: str = NEWEST, key: str = DEMO_KEY) -> None:
        self._client = client
        self.version = version
        self.key = key

    def using(self, version: str) -> AcpClient:
        return AcpClient(self._client, version, self.key)

    def headers(
        self, extra: dict[str, str | None] | None = None, method: str = "GET"
    ) -> dict[str, str]:
        """Auth and version headers, and a fresh Idempotency-Key on every POST
        (pass `{"Idempotency-Key": None}` to send none)."""
        headers: dict[str, str | None] = {
            "Authorization": f"Bearer {self.key}",
            "API-Version": self.version,
        }
        if method == "POST":
            headers["Idempotency-Key"] = f"idem_{uuid.uuid4().hex}"
        headers.update(extra or {})
        return {k: v for k, v in headers.items() if v is not None}

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str | None] | None = None,
        raw: bytes | None = None,
        content_type: str = "application/json",
    ) -> Reply:
        data = raw if raw is not None else (orjson.dumps(body) if body is not None else b"")
        sent = self.headers(headers, method)
        if data:
            sent.setdefault("Content-Type", content_type)
        response = await self._client.open(path, method=method, data=data, headers=sent)
        text = await response.get_data()
        parsed = orjson.loads(text) if text else None
        reply = Reply(response.status_code, parsed, response.headers)
        complete = method == "POST" and path.endswith("/complete")
        self.check(reply, sent.get("API-Version"), complete=complete)
        return reply

    @staticmethod
    def check(reply: Reply, version: str | None, *, complete: bool = False) -> None:
        """Schema-validate the body: sessions on 2xx (the definition of the endpoint:
        the complete endpoint's `CheckoutSessionWithOrder` once completed, else
        `CheckoutSession`), the flat Error otherwise."""
        schema_version = version if version in BY_VERSION else NEWEST
        assert reply.headers.get("Content-Type", "").startswith("application/json")
        if 200 <= reply.status < 300:
            acp_schema.assert_checkout_session(schema_version, reply.body, complete=complete)
        else:
            acp_schema.assert_error(schema_version, reply.body)

    async def create(self, body: dict[str, Any], **kw: Any) -> Reply:
        return await self.request("POST", "/checkout_sessions", body, **kw)

    async def get(self, session_id: str, **kw: Any) -> Reply:
        return await self.request("GET", f"/checkout_sessions/{session_id}", **kw)

    async def update(self, session_id: str, body: dict[str, Any], **kw: Any) -> Reply:
        return await self.request("POST", f"/checkout_sessions/{session_id}", body, **kw)

    async def complete(self, session_id: str, body: dict[str, Any], **kw: Any) -> Reply:
        return await self.request("POST", f"/checkout_sessions/{session_id}/complete", body, **kw)

    async def cancel(self, session_id: str, body: dict[str, Any] | None = None, **kw: Any) -> Reply:
        return await self.request("POST", f"/checkout_sessions/{session_id}/cancel", body, **kw)


ADDRESS = {
    "name": "Jane Doe",
    "line_one": "1 Market St",
    "city": "San Francisco",
    "state": "CA",
    "country": "US",
    "postal_code": "94105",
}


def create_body(version: str, product: str = "item_123", quantity: int = 1, **extra: Any) -> Any:
    """A minimal valid create body in the given version's shape."""
    traits = BY_VERSION[version]
    if traits.items == "items":
        return {"items": [{"id": product, "quantity": quantity}], **extra}
    item: dict[str, Any] = {"id": product}
    if quantity != 1:
        item["quantity"] = quantity
    return {"currency": "usd", "line_items": [item], "capabilities": {}, **extra}


def address_update(version: str, address: dict[str, str] | None = None) -> dict[str, Any]:
    address = address or ADDRESS
    if BY_VERSION[version].fulfillment == "fulfillment_address":
        return {"fulfillment_address": address}
    return {"fulfillment_details": {"name": address["name"], "address": address}}


def shipping_choice(version: str, option_id: str, item_ids: list[str]) -> dict[str, Any]:
    """The update body that selects a shipping option, in the version's shape."""
    selection = BY_VERSION[version].selection
    if selection == "option_id":
        return {"fulfillment_option_id": option_id}
    if selection == "nested":
        shipping = {"option_id": option_id, "item_ids": item_ids}
        return {"selected_fulfillment_options": [{"type": "shipping", "shipping": shipping}]}
    choice = {"type": "shipping", "option_id": option_id, "item_ids": item_ids}
    return {"selected_fulfillment_options": [choice]}


# The versions whose agents declare 3-D Secure (`capabilities.interventions`) at create.
DECLARING = tuple(v for v in VERSIONS if BY_VERSION[v].create_requires_currency)
# The versions with 3-D Secure: DECLARING, and those without `capabilities.interventions`
# whose agents are taken as able to authenticate (2025-12-12, 2026-01-16).
THREE_DS = tuple(v for v in VERSIONS if BY_VERSION[v].three_ds)


def interventions(version: str, supported: list[str]) -> dict[str, Any]:
    """The create members that declare the agent's interventions, where the version can."""
    if version not in DECLARING:
        return {}
    return {"capabilities": {"interventions": {"supported": supported}}}


# A successful 3-D Secure result (`authentication_result`, 2025-12-12 and 2026-01-30 on).
AUTHENTICATED = {
    "outcome": "authenticated",
    "outcome_details": {
        "three_ds_cryptogram": "AbCdEfGhIjKlMnOpQrStUvWxY0=",
        "electronic_commerce_indicator": "05",
        "transaction_id": "dsTransId_abc123",
        "version": "2.2.0",
    },
}


def payment(version: str, token: str = "tok_test_ok") -> dict[str, Any]:
    if BY_VERSION[version].payment == "payment_provider":
        return {"payment_data": {"token": token, "provider": "stripe"}}
    return {
        "payment_data": {
            "handler_id": "card_tokenized",
            "instrument": {"type": "card", "credential": {"type": "spt", "token": token}},
        }
    }


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
async def system(
    nursery: trio.Nursery, settings: Settings, store_factory: StoreFactory
) -> ActorSystem:
    system = ActorSystem(settings, store_factory(), load_catalog(settings))
    nursery.start_soon(system.run)
    await system.sessions.wait_ready()
    return system


@pytest.fixture
async def acp(system: ActorSystem) -> AsyncIterator[AcpClient]:
    app = create_app(system)
    async with app.test_app() as test_app:
        yield AcpClient(test_app.test_client())


def with_settings(**changes: Any) -> Settings:
    return Settings(**changes)

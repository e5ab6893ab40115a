"""The gate an MCP tool call passes is REST's: the request signature (HMAC over
`meta.timestamp`, a dot and the RFC 8785 canonical JSON of `payload`), the
merchant's rate limit (one budget for both transports), and logs that label the
transport and keep secrets out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
import rfc8785

from agentic_commerce.http.signatures import sign
from tests.e2e.mcp_agent import VERSION, connected, new_key
from tests.e2e.server import Server, running_server
from tests.real_requests import PAY, with_address

pytestmark = pytest.mark.slow
SIGNED_KEY = "key_of_the_signing_merchant"
LIMITED_KEY = "key_of_the_limited_merchant"
SECRET = "the-signing-merchants-secret"
BURST = 6  # per merchant, with one more a minute: no refill while a test runs


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    env = {
        "API_KEYS": f"{SIGNED_KEY}:merchant_signed,{LIMITED_KEY}:merchant_limited",
        "MERCHANT_SIGNATURE_SECRETS": f"merchant_signed:{SECRET}",
        "RATE_LIMIT_PER_MINUTE": "1",
        "RATE_LIMIT_BURST": str(BURST),
    }
    with running_server(**env) as running:
        yield running


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def signed(payload: dict[str, Any], timestamp: str, secret: str = SECRET) -> dict[str, Any]:
    """A create whose `meta` signs the canonical JSON of `payload`."""
    signature = sign(secret, timestamp, rfc8785.dumps(payload))
    meta = {
        "api_version": VERSION,
        "idempotency_key": new_key(),
        "timestamp": timestamp,
        "signature": signature,
    }
    return {"meta": meta, "payload": payload}


async def test_signatures_over_the_canonical_payload(server: Server) -> None:
    async with connected(server.base_url, key=SIGNED_KEY) as agent:
        first = signed(with_address(), now())
        assert (await agent.call("create_checkout_session", first)).session["id"]

        replayed = await agent.refused("create_checkout_session", first)
        assert (replayed["code"], replayed["param"]) == ("signature_replayed", "$.meta.signature")

        # Sent in another key order: the same canonical bytes, so the same signature holds.
        payload = with_address()
        arguments = signed(payload, now())
        arguments["payload"] = dict(reversed(list(payload.items())))
        assert list(arguments["payload"]) != list(payload)
        assert (await agent.call("create_checkout_session", arguments)).session["id"]

        forged = signed(with_address(), now(), secret="another-secret")
        wrong = await agent.refused("create_checkout_session", forged)
        assert (wrong["code"], wrong["param"]) == ("invalid_signature", "$.meta.signature")

        unsigned = {"meta": {"api_version": VERSION}, "payload": with_address()}
        missing = await agent.refused("create_checkout_session", unsigned)
        assert missing["code"] == "invalid_signature"


async def test_one_rate_limit_for_both_transports(server: Server) -> None:
    headers = {"Authorization": f"Bearer {LIMITED_KEY}", "API-Version": VERSION}
    async with (
        httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=30) as http,
        connected(server.base_url, key=LIMITED_KEY) as agent,
    ):
        for _ in range(BURST // 2):
            created = await http.post(
                "/checkout_sessions", json=with_address(), headers={"Idempotency-Key": new_key()}
            )
            assert created.status_code == 201, created.text
            await agent.create(with_address())
        limited = await agent.refused("create_checkout_session", agent.create_args(with_address()))
        assert limited["code"] == "too_many_requests"
        refused = await http.get(f"/checkout_sessions/{created.json()['id']}")
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) > 0


async def test_logs_label_the_transport_and_keep_secrets_out() -> None:
    with running_server(LOG_LEVEL="info") as server:
        async with connected(server.base_url) as agent:
            session_id = (await agent.create(with_address())).session["id"]
            await agent.complete(session_id, PAY)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            await http.get("/checkout_sessions/cs_x", headers={"Authorization": "Bearer x"})
        assert server.stop() == 0  # the MCP session manager ends with the app's lifespan
    logs = [orjson.loads(line) for line in server.stderr.splitlines() if line.startswith(b"{")]
    assert logs[-1]["event"] == "server_stopped"
    requests = [entry for entry in logs if entry["event"] == "request"]
    assert {entry["transport"] for entry in requests} == {"rest", "mcp"}
    assert {entry["route"] for entry in requests if entry["transport"] == "mcp"} == {"/mcp"}
    calls = [entry for entry in logs if entry["event"] == "tool_call"]
    assert [entry["tool"] for entry in calls] == [
        "create_checkout_session",
        "complete_checkout_session",
    ]
    assert {entry["transport"] for entry in calls} == {"mcp"}
    assert all(entry["merchant"] == "merchant_demo" and entry["status"] < 300 for entry in calls)
    text = server.stderr.decode()
    for secret in ("tok_test_ok", "api_key_demo_123"):
        assert secret not in text

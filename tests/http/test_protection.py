"""The safety layer: rate limits, request signatures, input validation, hardening."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import trio
import trio.testing

from agentic_commerce.actors.system import ActorSystem
from agentic_commerce.config.settings import Settings, SettingsError
from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.http.app import create_app
from agentic_commerce.http.gateway import SessionGateway, _sign, refusal_from
from agentic_commerce.http.signatures import digest, sign
from agentic_commerce.protocol.traits import BY_VERSION
from agentic_commerce.protocol.v2026_04_17 import Codec2026
from agentic_commerce.store.base import Store
from agentic_commerce.supervisor import load_catalog
from tests.http.conftest import (
    ADDRESS,
    NEWEST,
    OLDEST,
    VERSIONS,
    AcpClient,
    address_update,
    create_body,
)
from tests.stores import StoreCalls, StoreFactory

NEW, OLD = NEWEST, OLDEST
SECRET = "sig_secret_value"


ClientWith = Callable[..., AbstractAsyncContextManager[AcpClient]]


@pytest.fixture
def client_with(store_factory: StoreFactory) -> ClientWith:
    """Opens the app on its own actor system with changed settings."""

    @asynccontextmanager
    async def open_client(store: Store | None = None, **changes: Any) -> AsyncIterator[AcpClient]:
        settings = Settings(**changes)
        system = ActorSystem(settings, store or store_factory(), load_catalog(settings))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(system.run)
            await system.sessions.wait_ready()
            async with create_app(system).test_app() as app:
                yield AcpClient(app.test_client())
            nursery.cancel_scope.cancel()

    return open_client


# -- rate limiting ---------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
async def test_over_the_limit_is_429_with_headers(client_with: ClientWith, version: str) -> None:
    async with client_with(rate_limit_per_minute=60, rate_limit_burst=3) as acp:
        client = acp.using(version)
        replies = [await client.create(create_body(version)) for _ in range(3)]
        assert [r.status for r in replies] == [201, 201, 201]
        assert [r.headers["RateLimit-Remaining"] for r in replies] == ["2", "1", "0"]
        limited = await client.create(create_body(version))
        assert limited.status == 429
        assert limited.body["code"] == "too_many_requests"
        assert int(limited.headers["Retry-After"]) >= 1
        assert limited.headers["RateLimit-Limit"] == "3"
        assert limited.headers["RateLimit-Remaining"] == "0"
        assert int(limited.headers["RateLimit-Reset"]) > 0
        health = await acp._client.get("/health")
        assert health.status_code == 200  # exempt


async def test_limits_are_per_merchant(client_with: ClientWith) -> None:
    keys = {"key_a": "merchant_a", "key_b": "merchant_b"}
    async with client_with(api_keys=keys, rate_limit_per_minute=60, rate_limit_burst=1) as acp:
        a = AcpClient(acp._client, NEW, "key_a")
        b = AcpClient(acp._client, NEW, "key_b")
        assert (await a.create(create_body(NEW))).status == 201
        assert (await a.create(create_body(NEW))).status == 429
        assert (await b.create(create_body(NEW))).status == 201
        spoofed = await a.create(create_body(NEW), headers={"X-Forwarded-For": "10.0.0.9"})
        assert spoofed.status == 429


async def test_rate_limiting_makes_no_store_call(
    mock_clock: trio.testing.MockClock, client_with: ClientWith, store_factory: StoreFactory
) -> None:
    """A GET of a live session, admitted or refused, makes no store call: the rate
    limit is this instance's account (trio's clock stands still: no settlement runs)."""
    store = store_factory(StoreCalls)
    async with client_with(store, rate_limit_per_minute=60, rate_limit_burst=3) as acp:
        session_id = (await acp.create(create_body(NEW))).body["id"]
        await trio.testing.wait_all_tasks_blocked()  # the background loops' first rounds
        store.calls.clear()
        replies = [await acp.get(session_id) for _ in range(3)]
        assert [r.status for r in replies] == [200, 200, 429]
        assert [r.headers["RateLimit-Remaining"] for r in replies] == ["1", "0", "0"]
        assert store.calls == []


# -- signatures ------------------------------------------------------------------


def signed(body: bytes, timestamp: str | None = None, secret: str = SECRET) -> dict[str, Any]:
    timestamp = timestamp or datetime.now(UTC).isoformat()
    return {"Timestamp": timestamp, "Signature": sign(secret, timestamp, body)}


async def test_signed_requests_pass_and_replays_are_refused(client_with: ClientWith) -> None:
    async with client_with(signature_secret=SECRET) as acp:
        raw = orjson.dumps(create_body(NEW))
        headers = signed(raw)
        ok = await acp.create(None, raw=raw, headers=headers)
        assert ok.status == 201
        replay = await acp.create(None, raw=raw, headers=headers)
        assert replay.status == 401
        assert replay.body["code"] == "signature_replayed"
        get = await acp.get(ok.body["id"], headers=signed(b""))
        assert get.status == 200


@pytest.mark.parametrize("encoding", ["padded", "hex"])
async def test_other_signature_encodings_are_accepted(
    client_with: ClientWith, encoding: str
) -> None:
    async with client_with(signature_secret=SECRET) as acp:
        raw = orjson.dumps(create_body(NEW))
        timestamp = datetime.now(UTC).isoformat()
        mac = digest(SECRET, timestamp, raw)
        value = base64.urlsafe_b64encode(mac).decode() if encoding == "padded" else mac.hex()
        reply = await acp.create(
            None, raw=raw, headers={"Timestamp": timestamp, "Signature": value}
        )
        assert reply.status == 201


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "invalid_signature"),
        ({"Timestamp": "yesterday", "Signature": "x"}, "invalid_signature"),
        (None, "signature_expired"),
        ("wrong-secret", "invalid_signature"),
        ("tampered", "invalid_signature"),
    ],
)
async def test_bad_signatures_are_401(client_with: ClientWith, headers: Any, code: str) -> None:
    async with client_with(signature_secret=SECRET) as acp:
        raw = orjson.dumps(create_body(NEW))
        if headers is None:
            old = (datetime.now(UTC) - timedelta(seconds=301)).isoformat()
            headers = signed(raw, old)
        elif headers == "wrong-secret":
            headers = signed(raw, secret="other")
        elif headers == "tampered":
            headers = signed(raw + b" ")
        reply = await acp.create(None, raw=raw, headers=headers)
        assert reply.status == 401
        assert reply.body["code"] == code
        assert SECRET not in str(reply.body)


async def test_merchant_secret_applies_to_that_merchant_only(client_with: ClientWith) -> None:
    keys = {"key_a": "merchant_a", "key_b": "merchant_b"}
    async with client_with(api_keys=keys, merchant_signature_secrets={"merchant_a": SECRET}) as acp:
        a = AcpClient(acp._client, NEW, "key_a")
        b = AcpClient(acp._client, NEW, "key_b")
        assert (await a.create(create_body(NEW))).status == 401
        raw = orjson.dumps(create_body(NEW))
        assert (await a.create(None, raw=raw, headers=signed(raw))).status == 201
        assert (await b.create(create_body(NEW))).status == 201


async def test_health_needs_no_signature(client_with: ClientWith) -> None:
    async with client_with(signature_secret=SECRET) as acp:
        assert (await acp._client.get("/health")).status_code == 200
        assert (await acp._client.get("/ready")).status_code == 200


# -- input validation ------------------------------------------------------------


def addressed(version: str, **fields: str) -> Any:
    return create_body(version, **address_update(version, dict(ADDRESS, **fields)))


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"country": "XX"}, "country"),
        ({"country": "USA"}, "country"),
        ({"state": "ZZ"}, "state"),
        ({"postal_code": "ABCDE"}, "postal_code"),
    ],
)
async def test_bad_addresses_are_400(
    acp: AcpClient, version: str, fields: dict[str, str], field: str
) -> None:
    reply = await acp.using(version).create(addressed(version, **fields))
    assert reply.status == 400
    assert reply.body["code"] == "invalid_field"
    nested = BY_VERSION[version].fulfillment == "fulfillment_details"
    assert reply.body["param"].endswith(f".address.{field}" if nested else f".{field}")


async def test_non_us_addresses_skip_us_rules(acp: AcpClient) -> None:
    reply = await acp.create(addressed(NEW, country="GB", state="London", postal_code="SW1A 1AA"))
    assert reply.status == 201


async def test_currency_must_be_iso_4217(acp: AcpClient) -> None:
    bad = await acp.create(dict(create_body(NEW), currency="xyz"))
    assert (bad.status, bad.body["param"]) == (400, "$.currency")
    other = await acp.create(dict(create_body(NEW), currency="eur"))
    assert (other.status, other.body["code"]) == (400, "unsupported_currency")


@pytest.mark.parametrize("version", VERSIONS)
async def test_limits_on_size(acp: AcpClient, version: str) -> None:
    client = acp.using(version)
    too_many = create_body(version)
    key = BY_VERSION[version].items
    entry = too_many[key][0]
    too_many[key] = [entry] * 101
    reply = await client.create(too_many)
    assert (reply.status, reply.body["code"]) == (400, "too_many_line_items")
    huge = await client.create(create_body(version, quantity=10001))
    assert huge.status == 400
    assert "quantity" in huge.body["param"]


async def test_deep_json_and_long_strings_are_refused(acp: AcpClient) -> None:
    deep: Any = "x"
    for _ in range(40):
        deep = {"a": deep}
    reply = await acp.create(dict(create_body(NEW), metadata=deep))
    assert (reply.status, reply.body["code"]) == (400, "nesting_too_deep")
    long = await acp.create(dict(create_body(NEW), locale="x" * 5000))
    assert (long.status, long.body["param"]) == (400, "$.locale")


async def test_raw_html_in_text_is_refused(acp: AcpClient) -> None:
    reply = await acp.create(dict(create_body(NEW), order_notes="hi <script>alert(1)</script>"))
    assert (reply.status, reply.body["param"]) == (400, "$.order_notes")
    fine = await acp.create(dict(create_body(NEW), order_notes="2 < 3, **bold**"))
    assert fine.status == 201


# -- hardening ---------------------------------------------------------------------


async def test_every_response_forbids_caching_and_sniffing(acp: AcpClient) -> None:
    for reply in (await acp.create(create_body(NEW)), await acp.get("cs_missing")):
        assert reply.headers["Cache-Control"] == "no-store"
        assert reply.headers["X-Content-Type-Options"] == "nosniff"


async def test_unexpected_errors_are_500_without_internals(
    acp: AcpClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(self: Codec2026, raw: bytes) -> None:
        raise RuntimeError("secret internal detail /etc/passwd")

    monkeypatch.setattr(Codec2026, "parse_create", explode)
    reply = await acp.create(create_body(NEW), headers={"Request-Id": "req_boom"})
    assert reply.status == 500
    assert reply.body["type"] == "processing_error"
    assert "req_boom" in reply.body["message"]
    assert "passwd" not in str(reply.body)


def test_production_refuses_unsafe_settings() -> None:
    problems = Settings.from_env({"APP_ENV": "production"}).production_problems()
    assert any("API_KEYS" in p for p in problems)
    assert any("SIMULATED" in p for p in problems) is False  # off by default in production
    assert not any("VAULT" in p for p in problems)  # the vault is off by default in production
    risky = Settings.from_env(
        {"APP_ENV": "production", "SIMULATED_PAYMENTS": "true", "VAULT_ENABLED": "true"}
    ).production_problems()
    assert any("SIMULATED_PAYMENTS" in p for p in risky)
    assert any("VAULT_SECRET" in p for p in risky)
    safe = Settings.from_env(  # tests/config/test_settings.py has the full set of rules
        {
            "APP_ENV": "production",
            "API_KEYS": "k_live_0123456789abcdef0123:m1",
            "REDIS_URL": "redis://localhost:6379/0",
            "STRIPE_SECRET_KEY": "sk_live_x",
            "VAULT_ENABLED": "false",
        }
    )
    assert safe.production_problems() == []
    with pytest.raises(SettingsError):
        Settings.from_env({"RATE_LIMIT_PER_MINUTE": "0"})


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"metadata": {"a": -(2**63) - 1}}, "$.metadata.a"),
        ({"metadata": {"x-y": 2**64}}, "$.metadata['x-y']"),
    ],
)
async def test_integers_beyond_64_bits_are_400(
    acp: AcpClient, extra: dict[str, Any], param: str
) -> None:
    raw = json.dumps(dict(create_body(NEW), **extra)).encode()  # orjson refuses such ints
    reply = await acp.create(None, raw=raw)
    assert (reply.status, reply.body["code"], reply.body["param"]) == (400, "invalid_field", param)
    fits = await acp.create(dict(create_body(NEW), metadata={"a": 2**63 - 1}))
    assert fits.status == 201


@pytest.mark.parametrize("secret", [None, "internal-secret-of-at-least-24-chars"])
@pytest.mark.parametrize(
    "timestamp", ["abc", "", "1e999", "nan", "-inf", "17000000000000000000000"]
)
async def test_internal_calls_with_a_malformed_timestamp_are_forbidden(
    client_with: ClientWith, secret: str | None, timestamp: str
) -> None:
    """The forwarding route is reachable on the public port: a header a client
    controls is checked before any parsing can fail (403, never 500)."""
    async with client_with(internal_secret=secret) as acp:
        reply = await acp.request(
            "POST",
            "/internal/sessions/cs_1",
            raw=b"{}",
            headers={"X-ACS-Timestamp": timestamp, "X-ACS-Signature": "0" * 64},
        )
    assert reply.status == 403


async def test_a_retryable_refusal_keeps_retry_after_across_the_forwarding_hop(
    client_with: ClientWith, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The owner's 503 reaches the instance that forwarded the call with its
    `Retry-After`, and that instance raises it again with the same retry hint."""
    secret = "internal-secret-of-at-least-24-chars"

    async def busy(self: SessionGateway, session_id: str, message: object) -> None:
        raise RequestRejected(
            "unavailable", "Busy.", None, status=503, type="service_unavailable", retry_after=1
        )

    monkeypatch.setattr(SessionGateway, "ask_local", busy)
    payload = orjson.dumps(
        {"kind": "get", "version": NEW, "merchant_id": "merchant_demo", "raw": "", "answer": None}
    )
    stamp = str(int(time.time()))
    async with client_with(internal_secret=secret) as acp:
        reply = await acp.request(
            "POST",
            "/internal/sessions/cs_1",
            raw=payload,
            headers={"X-ACS-Timestamp": stamp, "X-ACS-Signature": _sign(secret, stamp, payload)},
        )
    assert (reply.status, reply.headers["Retry-After"]) == (503, "1")
    again = refusal_from(reply.status, orjson.dumps(reply.body), reply.headers["Retry-After"])
    assert (again.status, again.code, again.retry_after) == (503, "unavailable", 1)
    assert (
        refusal_from(400, b'{"type":"invalid_request","code":"x","message":"m"}').retry_after
        is None
    )

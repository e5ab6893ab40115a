"""Failed credentials per client address (each store, MockClock): API keys, the
admin API's Bearer key and the admin page's sign-in form share one count per
address in the store; past it, 429 with Retry-After before any key is looked at."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
import trio
import trio.testing

from agentic_commerce.actors.clock import TrioClock
from agentic_commerce.actors.system import ActorSystem
from agentic_commerce.config.settings import Settings
from agentic_commerce.http.app import create_app
from agentic_commerce.http.throttle import client_address
from agentic_commerce.store.base import Store
from agentic_commerce.supervisor import load_catalog
from tests.http.conftest import DEMO_KEY, NEWEST, AcpClient, Reply
from tests.stores import StoreCalls, StoreFactory

ADMIN_KEY = "admin_key_test_7f3a9c_0123456789"
WRONG = "wrong_key_c0ffee"
GUESSER = "198.51.100.66"
AGENT = "203.0.113.10"
PROXY = "10.0.0.2"
FAILURES = 10  # AUTH_FAILURES_PER_MINUTE's default
FIRST_RETRY = 6  # one failure's worth of a minute: 60 / 10 seconds


@dataclass
class Caller:
    """Requests as if from one client address (the ASGI scope's peer)."""

    client: Any
    address: str

    def scope(self) -> dict[str, Any]:
        return {"client": (self.address, 40000)}

    async def acp(self, key: str | None = DEMO_KEY, forwarded_for: str | None = None) -> Reply:
        """GET of an id no session can have: 404 as soon as the key is accepted
        (no actor, nor any instance that owns one, is involved)."""
        headers = {"API-Version": NEWEST}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        if forwarded_for is not None:
            headers["X-Forwarded-For"] = forwarded_for
        response = await self.client.get(
            "/checkout_sessions/cs.unknown", headers=headers, scope_base=self.scope()
        )
        reply = Reply(response.status_code, await response.get_json(), response.headers)
        AcpClient.check(reply, NEWEST)  # the flat ACP Error, schema-checked
        return reply

    async def delegate(self) -> Reply:
        response = await self.client.post(
            "/agentic_commerce/delegate_payment",
            data=b"{}",
            headers={
                "Authorization": f"Bearer {DEMO_KEY}",
                "API-Version": NEWEST,
                "Content-Type": "application/json",
            },
            scope_base=self.scope(),
        )
        return Reply(response.status_code, await response.get_json(), response.headers)

    async def admin_api(self, key: str) -> Reply:
        response = await self.client.get(
            "/admin/supervisor", headers={"Authorization": f"Bearer {key}"}, scope_base=self.scope()
        )
        return Reply(response.status_code, await response.get_json(), response.headers)

    async def sign_in(self, key: str) -> Any:
        return await self.client.post("/admin/login", form={"key": key}, scope_base=self.scope())


@asynccontextmanager
async def serving(store: Store, **changes: Any) -> AsyncIterator[Any]:
    """The real app on a real actor system whose wall time follows trio's clock."""
    settings = Settings(admin_api_key=ADMIN_KEY, **changes)
    system = ActorSystem(settings, store, load_catalog(settings), clock=TrioClock())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(system.run)
        await system.sessions.wait_ready()
        async with create_app(system).test_app() as app:
            yield app.test_client()
        nursery.cancel_scope.cancel()


async def guess(caller: Caller, times: int = FAILURES) -> None:
    for _ in range(times):
        assert (await caller.acp(WRONG)).status == 401


def assert_throttled(reply: Reply, retry_after: int = FIRST_RETRY) -> None:
    assert reply.status == 429
    assert reply.headers["Retry-After"] == str(retry_after)
    assert (reply.body["type"], reply.body["code"]) == ("invalid_request", "too_many_requests")
    assert "failed credentials" in reply.body["message"]
    assert WRONG not in orjson.dumps(reply.body).decode()


async def test_wrong_api_keys_throttle_their_address_only(
    mock_clock: trio.testing.MockClock, store_factory: StoreFactory
) -> None:
    async with serving(store_factory()) as client:
        guesser, agent = Caller(client, GUESSER), Caller(client, AGENT)
        await guess(guesser)
        assert_throttled(await guesser.acp(WRONG))
        assert_throttled(await guesser.acp(DEMO_KEY))  # the right key learns nothing either
        limited = await guesser.delegate()
        assert (limited.status, limited.body["type"]) == (429, "rate_limit_exceeded")
        assert limited.body["code"] == "too_many_requests"
        assert (await agent.acp(DEMO_KEY)).status == 404  # authenticated: no such session


async def test_the_check_makes_no_store_call(
    mock_clock: trio.testing.MockClock, store_factory: StoreFactory
) -> None:
    """Only a failure is counted in the store; the check before any key is looked at
    reads this instance's account."""
    store = store_factory(StoreCalls)
    async with serving(store) as client:
        await guess(Caller(client, GUESSER))
        assert store.calls.count("rate_limit") == FAILURES
        await trio.testing.wait_all_tasks_blocked()  # the background loops' first rounds
        store.calls.clear()
        assert_throttled(await Caller(client, GUESSER).acp(WRONG))
        assert_throttled(await Caller(client, GUESSER).acp(DEMO_KEY))
        assert (await Caller(client, AGENT).acp(DEMO_KEY)).status == 404
        assert store.calls == []


async def test_a_missing_key_is_no_guess(
    mock_clock: trio.testing.MockClock, store_factory: StoreFactory
) -> None:
    async with serving(store_factory()) as client:
        caller = Caller(client, GUESSER)
        for _ in range(3 * FAILURES):
            assert (await caller.acp(None)).body["code"] == "missing_api_key"
        assert (await caller.acp(DEMO_KEY)).status == 404


async def test_the_address_recovers_as_the_window_passes(
    mock_clock: trio.testing.MockClock, store_factory: StoreFactory
) -> None:
    async with serving(store_factory()) as client:
        guesser = Caller(client, GUESSER)
        await guess(guesser)
        assert_throttled(await guesser.acp(WRONG))
        mock_clock.jump(FIRST_RETRY - 1)
        assert_throttled(await guesser.acp(DEMO_KEY), retry_after=1)
        mock_clock.jump(1)
        await guess(guesser, 1)  # one failure's worth has drained: one more guess
        assert_throttled(await guesser.acp(DEMO_KEY))
        mock_clock.jump(60)  # the whole burst again
        assert (await guesser.acp(DEMO_KEY)).status == 404
        await guess(guesser)
        assert_throttled(await guesser.acp(WRONG))


async def test_a_smaller_setting_throttles_sooner(
    mock_clock: trio.testing.MockClock, store_factory: StoreFactory
) -> None:
    async with serving(store_factory(), auth_failures_per_minute=2) as client:
        guesser = Caller(client, GUESSER)
        await guess(guesser, 2)
        assert_throttled(await guesser.acp(WRONG), retry_after=30)


@pytest.mark.parametrize("store_kind", ["redis"])
async def test_instances_sharing_redis_share_the_count(
    mock_clock: trio.testing.MockClock, store_factory: StoreFactory
) -> None:
    first, second = store_factory(), store_factory()  # one database, two clients
    shared = {"internal_secret": "internal-secret-of-at-least-24-chars"}
    async with (
        serving(first, instance_url="http://127.0.0.1:9101", **shared) as one,
        serving(second, instance_url="http://127.0.0.1:9102", **shared) as two,
    ):
        await guess(Caller(one, GUESSER), FAILURES // 2)
        await guess(Caller(two, GUESSER), FAILURES - FAILURES // 2)
        assert_throttled(await Caller(two, GUESSER).acp(DEMO_KEY))  # its count filled it
        assert (await Caller(one, GUESSER).acp(DEMO_KEY)).status == 404  # not settled yet
        mock_clock.jump(Settings().rate_limit_settle_seconds)  # one settlement round
        await trio.testing.wait_all_tasks_blocked()
        assert_throttled(await Caller(one, GUESSER).acp(DEMO_KEY))
        assert (await Caller(two, AGENT).acp(DEMO_KEY)).status == 404


async def test_admin_sign_in_is_throttled(
    mock_clock: trio.testing.MockClock, store_factory: StoreFactory
) -> None:
    async with serving(store_factory()) as client:
        guesser = Caller(client, GUESSER)
        for _ in range(FAILURES):
            assert (await guesser.sign_in(WRONG)).status_code == 401
        for key in (WRONG, ADMIN_KEY):
            refused = await guesser.sign_in(key)
            assert refused.status_code == 429
            assert refused.headers["Retry-After"] == str(FIRST_RETRY)
            assert "Set-Cookie" not in refused.headers
            html = await refused.get_data(as_text=True)
            assert "Too many failed sign-ins" in html and 'action="/admin/login"' in html
            assert WRONG not in html and ADMIN_KEY not in html
        assert (await Caller(client, AGENT).sign_in(ADMIN_KEY)).status_code == 303


async def test_the_admin_api_key_is_throttled(
    mock_clock: trio.testing.MockClock, store_factory: StoreFactory
) -> None:
    async with serving(store_factory()) as client:
        guesser = Caller(client, GUESSER)
        for _ in range(FAILURES):
            assert (await guesser.admin_api(WRONG)).status == 401
        for key in (WRONG, ADMIN_KEY):
            assert_throttled(await guesser.admin_api(key))
        assert (await Caller(client, AGENT).admin_api(ADMIN_KEY)).status == 200


async def test_api_and_admin_failures_count_together(
    mock_clock: trio.testing.MockClock, store_factory: StoreFactory
) -> None:
    async with serving(store_factory()) as client:
        guesser = Caller(client, GUESSER)
        await guess(guesser, FAILURES // 2)
        for _ in range(FAILURES - FAILURES // 2):
            assert (await guesser.sign_in(WRONG)).status_code == 401
        assert_throttled(await guesser.acp(DEMO_KEY))


async def test_forwarded_for_is_ignored_from_an_untrusted_peer(
    mock_clock: trio.testing.MockClock, store_factory: StoreFactory
) -> None:
    async with serving(store_factory()) as client:
        guesser = Caller(client, GUESSER)
        for n in range(FAILURES):
            assert (await guesser.acp(WRONG, forwarded_for=f"192.0.2.{n}")).status == 401
        assert_throttled(await guesser.acp(DEMO_KEY, forwarded_for="192.0.2.200"))


async def test_behind_a_trusted_proxy_each_client_counts_apart(
    mock_clock: trio.testing.MockClock, store_factory: StoreFactory
) -> None:
    proxies = (ipaddress.ip_network("10.0.0.0/8"),)
    async with serving(store_factory(), trusted_proxies=proxies) as client:
        proxy = Caller(client, PROXY)
        for n in range(FAILURES):  # a spoofed first entry changes nothing: the proxy appends
            reply = await proxy.acp(WRONG, forwarded_for=f"192.0.2.{n}, {GUESSER}")
            assert reply.status == 401
        assert_throttled(await proxy.acp(DEMO_KEY, forwarded_for=GUESSER))
        assert (await proxy.acp(DEMO_KEY, forwarded_for=AGENT)).status == 404


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "proxies", "expected"),
    [
        ("198.51.100.7", None, "", "198.51.100.7"),
        ("198.51.100.7", "203.0.113.9", "", "198.51.100.7"),
        ("198.51.100.7", "203.0.113.9", "10.0.0.0/8", "198.51.100.7"),
        ("10.0.0.2", "203.0.113.9", "10.0.0.0/8", "203.0.113.9"),
        ("10.0.0.2", "1.1.1.1, 203.0.113.9, 10.0.0.3", "10.0.0.0/8", "203.0.113.9"),
        ("10.0.0.2", "203.0.113.9, garbage", "10.0.0.0/8", "10.0.0.2"),
        ("10.0.0.2", "10.0.0.9", "10.0.0.0/8", "10.0.0.9"),
        ("2001:db8:1:2:3:4:5:6", None, "", "2001:db8:1:2::/64"),
        ("::ffff:198.51.100.7", None, "", "198.51.100.7"),
        ("<local>", None, "", "unknown"),
        (None, "203.0.113.9", "10.0.0.0/8", "unknown"),
    ],
)
def test_client_address(
    peer: str | None, forwarded_for: str | None, proxies: str, expected: str
) -> None:
    networks = tuple(ipaddress.ip_network(p) for p in proxies.split(",") if p)
    assert client_address(peer, forwarded_for, networks) == expected

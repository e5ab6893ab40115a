"""The real server on Redis, killed with SIGKILL and started again: nothing it
acknowledged is lost, and a session nobody touches still expires afterwards."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import trio

from agentic_commerce.domain.model import Session, Status
from agentic_commerce.store.redis import RedisStore
from tests.e2e.server import Server, running_server
from tests.http.test_delegate_payment import delegate_body
from tests.real_requests import HEADERS, PAY, with_address
from tests.redis_server import RedisServer

pytestmark = pytest.mark.slow
WITH_ADDRESS = with_address("usb_c_cable")
EXPIRY_BOUND_SECONDS = 30.0


def post(http: httpx.Client, path: str, body: Any, key: str) -> httpx.Response:
    return http.post(path, json=body, headers={"Idempotency-Key": key})


def in_store(redis: RedisServer, read: Callable[[RedisStore], Any]) -> Any:
    """Read through a store of the test's own (no server actor is activated)."""

    async def main() -> Any:
        store = RedisStore(redis.url, timeout=5, pool_size=2)
        try:
            return await read(store)
        finally:
            await store.close()

    return trio.run(main)


def durable(view: dict[str, Any]) -> dict[str, Any]:
    """A rendered session without what each read computes afresh (delivery windows)."""
    return {k: v for k, v in view.items() if k != "fulfillment_options"}


def stored(redis: RedisServer, session_id: str) -> Session:
    session = in_store(redis, lambda store: store.load_session(session_id))
    assert isinstance(session, Session)
    return session


def kill(server: Server) -> None:
    server.process.kill()  # SIGKILL: no shutdown path runs
    server.process.wait(timeout=10)


def test_a_killed_server_loses_nothing_it_acknowledged(own_redis: RedisServer) -> None:
    env = {
        "REDIS_URL": own_redis.url,
        "EXPIRY_SWEEP_SECONDS": "0.2",
        "LOG_LEVEL": "warning",
    }
    with running_server(**env, SESSION_TTL_SECONDS="2") as first:
        http = httpx.Client(base_url=first.base_url, headers=HEADERS, timeout=10)
        short_lived = post(http, "/checkout_sessions", WITH_ADDRESS, "short").json()["id"]
        kill(first)
        http.close()
    # The short-lived session's actor died with the process; nobody reads it via the API.

    with running_server(**env) as second:
        http = httpx.Client(base_url=second.base_url, headers=HEADERS, timeout=10)
        created = post(http, "/checkout_sessions", WITH_ADDRESS, "create-a")
        assert created.status_code == 201
        paid_id = created.json()["id"]
        completed = post(http, f"/checkout_sessions/{paid_id}/complete", PAY, "complete-a")
        assert completed.json()["status"] == "completed"
        order = completed.json()["order"]
        open_id = post(http, "/checkout_sessions", WITH_ADDRESS, "create-b").json()["id"]
        vault_body = delegate_body(open_id)
        token = post(http, "/agentic_commerce/delegate_payment", vault_body, "vault-b")
        assert token.status_code == 201
        open_view = http.get(f"/checkout_sessions/{open_id}").json()
        # The sweeper of the new process expires the short-lived session from the
        # durable index, and its units go back.
        deadline = time.monotonic() + EXPIRY_BOUND_SECONDS
        while (current := stored(own_redis, short_lived)).status is not Status.EXPIRED:
            assert time.monotonic() < deadline, f"not expired: {current.status}"
            time.sleep(0.1)
        level = in_store(own_redis, lambda store: store.stock("usb_c_cable"))
        assert level.reserved == 1  # only the open session's unit
        kill(second)
        http.close()

    with running_server(**env) as third:
        http = httpx.Client(base_url=third.base_url, headers=HEADERS, timeout=10)
        # Every acknowledged session, order and answer is there.
        assert durable(http.get(f"/checkout_sessions/{paid_id}").json()) == durable(
            completed.json()
        )
        assert durable(http.get(f"/checkout_sessions/{open_id}").json()) == durable(open_view)
        for path, body, key, first_reply in (
            ("/checkout_sessions", WITH_ADDRESS, "create-a", created),
            (f"/checkout_sessions/{paid_id}/complete", PAY, "complete-a", completed),
            ("/agentic_commerce/delegate_payment", vault_body, "vault-b", token),
        ):
            replay = post(http, path, body, key)
            assert replay.status_code == first_reply.status_code
            assert replay.headers["Idempotent-Replayed"] == "true"
            if "delegate_payment" not in path:  # its body has a fresh `created` each time
                assert replay.json() == first_reply.json()
            assert replay.json()["id"] == first_reply.json()["id"]
        stored_order = in_store(own_redis, lambda store: store.load_order(order["id"]))
        assert stored_order is not None and stored_order.checkout_session_id == paid_id
        events = in_store(own_redis, lambda store: store.list_events(None))
        assert [(e.type, e.order_id) for e in events] == [("order_create", order["id"])]

        # The vault token survived too: it pays for the session it was made for.
        pay_with_token = {
            "payment_data": {
                "handler_id": "card_tokenized",
                "instrument": {
                    "type": "card",
                    "credential": {"type": "spt", "token": token.json()["id"]},
                },
            }
        }
        paid = post(http, f"/checkout_sessions/{open_id}/complete", pay_with_token, "pay-b")
        assert paid.json()["status"] == "completed"
        assert stored(own_redis, short_lived).status is Status.EXPIRED
        http.close()

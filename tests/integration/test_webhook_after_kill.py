"""An acknowledged order's webhook survives the death of the process that took it.

The receiver is down while the first server process completes a checkout, so
the event cannot leave; that process is then killed with SIGKILL (no shutdown
hook runs). A new process on the same Redis delivers `order_create` once the
receiver is back.
"""

from __future__ import annotations

import signal
import uuid

import httpx
import pytest
import trio

from tests.e2e.server import running_server
from tests.fakes.webhook_receiver import running_receiver
from tests.real_requests import HEADERS, PAY, with_address
from tests.redis_server import redis_server

pytestmark = pytest.mark.slow
SECRET = "whsec_kill_test"


def checkout(base_url: str) -> dict[str, str]:
    with httpx.Client(base_url=base_url, headers=HEADERS, timeout=30) as http:
        created = http.post(
            "/checkout_sessions",
            json=with_address(),
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert created.status_code == 201
        session_id = created.json()["id"]
        done = http.post(
            f"/checkout_sessions/{session_id}/complete",
            json=PAY,
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert done.status_code == 200 and done.json()["status"] == "completed"
        return {"session_id": session_id, "order_id": done.json()["order"]["id"]}


async def test_order_create_is_delivered_after_sigkill() -> None:
    async with running_receiver(SECRET) as receiver:
        receiver.down = True
        with redis_server() as redis:
            env = {
                "REDIS_URL": redis.url,
                "WEBHOOK_URL": receiver.url,
                "WEBHOOK_SECRET": SECRET,
                "WEBHOOK_TIMEOUT_SECONDS": "1",
                "WEBHOOK_POLL_SECONDS": "0.2",
                "WEBHOOK_RETRY_SCHEDULE": "0.2,0.2,0.2,0.2,0.2,0.2,0.2,0.2,0.2,0.2,0.2,0.2",
            }
            with running_server(**env) as first:
                placed = await trio.to_thread.run_sync(checkout, first.base_url)
                first.process.send_signal(signal.SIGKILL)
                first.process.wait(timeout=30)
            receiver.down = False
            with running_server(**env):
                [delivery] = await receiver.wait_for(1, timeout=60)
    assert delivery.signature_ok
    assert delivery.body["type"] == "order_create"
    assert delivery.body["data"]["id"] == placed["order_id"]
    assert delivery.body["data"]["checkout_session_id"] == placed["session_id"]

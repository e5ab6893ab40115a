"""What the real-process feed push tests share: instances started and waited for in a
thread (the fake platform serves in the test's own trio run meanwhile), their
environment, checkouts and the publisher's counter on each instance's `/metrics`."""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import trio

from tests.cluster.cluster import Cluster, Instance, cluster_env
from tests.real_requests import HEADERS, PAY, with_address

KEY = "platform_key_for_the_process_tests"
INTERVAL = 0.3
LEASE_TTL = 1.0


def push_env(redis_url: str, platform_url: str) -> dict[str, str]:
    return cluster_env(
        redis_url,
        LEASE_TTL,
        FEED_PUSH_URL=platform_url,
        FEED_PUSH_API_KEY=KEY,
        FEED_PUSH_TARGET_COUNTRY="US",
        FEED_PUSH_INTERVAL_SECONDS=str(INTERVAL),
        FEED_PUSH_BATCH_SIZE="2",
        FEED_PUSH_TIMEOUT_SECONDS="1",
        LOG_LEVEL="info",  # every line the publisher writes, for the key check
    )


@asynccontextmanager
async def started(*instances: Instance) -> AsyncIterator[Cluster]:
    """The instances, healthy, for the block (their logs shown if it fails); stopped
    after it, and their logs checked for crashes and for the platform's key."""
    cluster = Cluster(list(instances))
    try:
        cluster.start()
        await trio.to_thread.run_sync(cluster.wait_healthy)
        yield cluster
    except BaseException:
        print(cluster.logs(), file=sys.stderr)
        raise
    finally:
        await trio.to_thread.run_sync(cluster.stop)
        logs = [i.log_path.read_text() for i in cluster.instances if i.log_path is not None]
        cluster.cleanup()
    assert all("feed_push_started" in log and KEY not in log for log in logs)


async def kill(instance: Instance) -> None:
    await trio.to_thread.run_sync(instance.kill)


def _buy(base_url: str, product: str, quantity: int) -> None:
    body = with_address(product)
    body["line_items"][0]["quantity"] = quantity
    with httpx.Client(base_url=base_url, headers=HEADERS, timeout=30) as http:
        created = http.post(
            "/checkout_sessions", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}
        )
        assert created.status_code == 201, created.text
        done = http.post(
            f"/checkout_sessions/{created.json()['id']}/complete",
            json=PAY,
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert done.status_code == 200 and done.json()["status"] == "completed", done.text


async def buy(instance: Instance, product: str, quantity: int) -> None:
    """A completed checkout of `quantity` units, through `instance`'s API."""
    await trio.to_thread.run_sync(_buy, instance.base_url, product, quantity)


def _pushed(base_url: str) -> float:
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    match = re.search(r"^acs_feed_products_pushed_total (\S+)$", text, re.MULTILINE)
    assert match, "no acs_feed_products_pushed_total"
    return float(match.group(1))


async def pushed_by(instance: Instance) -> float:
    """The products this instance's publisher had accepted (its own counter)."""
    return await trio.to_thread.run_sync(_pushed, instance.base_url)

"""The feed push on real server processes and a real Redis, to the fake feed platform
on loopback (every body schema-checked; the first calls fail, one with 429 and
`Retry-After`):

- a process killed in the middle of a push: its successor pushes what was not
  recorded (the cut-off batch again) and nothing recorded before it;
- the checkout that sells the last unit of a product: the platform sees it out of
  stock within about one push interval, and nothing else is pushed for it;
- two instances: one publishes; killing it moves publishing to the other, which
  pushes only what changed."""

from __future__ import annotations

from collections import Counter

import pytest
import trio

from tests.cluster.cluster import Instance
from tests.cluster.feed_push import (
    INTERVAL,
    KEY,
    buy,
    kill,
    push_env,
    pushed_by,
    started,
)
from tests.fakes.feed_platform import Fault, running_platform
from tests.redis_server import RedisServer

pytestmark = pytest.mark.slow
PRODUCTS = 5  # the demo catalog's
CABLE = "usb_c_cable"  # 3 in stock
LAPTOP = "laptop_pro_16_inch"  # 15 in stock: 5 or fewer is limited_stock
SLACK = 1.0  # a loaded machine's scheduling, on top of the interval


async def test_a_restart_mid_push_loses_nothing_and_the_last_unit_sold_is_pushed(
    own_redis: RedisServer,
) -> None:
    async with running_platform(KEY) as fake:
        fake.faults = [Fault(503), Fault(429, "1")]
        fake.stall_upsert = 2
        env = push_env(own_redis.url, fake.url)
        async with started(Instance("a", env)) as first:
            with trio.fail_after(30):
                await fake.stalled.wait()  # batch 1 recorded, batch 2 applied, unanswered
            await kill(first.instances[0])
        recorded, cut_off = ([p["id"] for p in r.body["products"]] for r in fake.upserts)
        async with started(Instance("b", env)) as second:
            await fake.wait_until(lambda: len(fake.newest()) == PRODUCTS, timeout=30)
            pushes = Counter(fake.pushed())
            assert all(pushes[p] == 1 for p in recorded), pushes
            assert all(pushes[p] == 2 for p in cut_off), pushes  # not recorded: again
            assert sum(pushes.values()) == PRODUCTS + len(cut_off)

            await buy(second.instances[0], CABLE, 3)
            sold_at = trio.current_time()
            await fake.wait_until(lambda: fake.availability()[CABLE] == "out_of_stock")
            seen = fake.upserts[-1]
            assert seen.at - sold_at <= INTERVAL + SLACK
            assert [p["id"] for p in seen.body["products"]] == [CABLE]
    assert [r.status for r in fake.requests[:3]] == [503, 429, 201]
    assert fake.requests[2].at - fake.requests[1].at >= 1  # Retry-After
    assert fake.created == 1
    assert all(not r.problems for r in fake.requests), [r.problems for r in fake.requests]


async def test_one_publisher_of_two_and_the_other_takes_over(own_redis: RedisServer) -> None:
    async with running_platform(KEY) as fake:
        env = push_env(own_redis.url, fake.url)
        async with started(Instance("a", env), Instance("b", env)) as cluster:
            await fake.wait_until(lambda: len(fake.newest()) == PRODUCTS, timeout=30)
            a, b = cluster.instances
            counts = [await pushed_by(a), await pushed_by(b)]
            assert sorted(counts) == [0, PRODUCTS]
            publisher, other = (a, b) if counts[0] else (b, a)

            await buy(other, CABLE, 3)  # sold on the other: pushed by the publisher
            await fake.wait_until(lambda: fake.availability()[CABLE] == "out_of_stock")
            assert await pushed_by(publisher) == PRODUCTS + 1
            assert await pushed_by(other) == 0

            await kill(publisher)
            await buy(other, LAPTOP, 10)
            await fake.wait_until(lambda: fake.availability()[LAPTOP] == "limited_stock")
            assert await pushed_by(other) == 1  # only what changed, not the whole feed
    assert fake.created == 1
    assert sum(Counter(fake.pushed()).values()) == PRODUCTS + 2
    assert all(not r.problems for r in fake.requests)

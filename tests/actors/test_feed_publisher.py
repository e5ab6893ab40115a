"""The feed publisher against the fake feed platform (in-process, every body checked
against the schema), on the memory store and a real Redis, in MockClock time: the
first push, only changes afterwards and within the interval, backoff and
`Retry-After`, refusals, a feed the platform lost, and a push cut off before its
answer (a crash) resumed without loss and without repeating what was recorded."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing
from prometheus_client import REGISTRY

from agentic_commerce.actors.feed_publisher import (
    REFUSED_PAUSE_SECONDS,
    FeedPublisher,
    Platform,
)
from agentic_commerce.actors.ownership import Ownership
from agentic_commerce.config.settings import Settings
from agentic_commerce.protocol import feed as wire
from agentic_commerce.protocol.feed_push import digest
from agentic_commerce.store.base import Store, available_units
from agentic_commerce.supervisor import load_catalog
from tests.fakes.feed_platform import FakeFeedPlatform, Fault
from tests.stores import StoreFactory, StoreOutage

KEY = "platform_key_for_the_publisher_tests"
INTERVAL = 1.0
TIMEOUT = 2.0
SHOP = "https://shop.example.com"
CATALOG = load_catalog(Settings())
PRODUCTS = [p.id for p in CATALOG]  # the demo's items are products of their own
CABLE = "usb_c_cable"  # 3 in stock: limited_stock


@pytest.fixture
async def store(store_factory: StoreFactory) -> Store:
    made: Store = store_factory()
    await made.seed_stock(CATALOG.stock_levels())
    return made


def lone(store: Store) -> Ownership:
    """One instance: it publishes without a lock (the lock is the cluster tests')."""
    return Ownership(store, None, None, 5.0)  # type: ignore[arg-type]


@asynccontextmanager
async def publishing(store: Store, fake: FakeFeedPlatform) -> AsyncIterator[FeedPublisher]:
    """A publisher running until the block ends (then cancelled, as a process killed)."""
    transport = fake.transport()  # sets its URL
    platform = Platform(fake.url, KEY, "US", INTERVAL, batch_size=2, timeout=TIMEOUT)
    publisher = FeedPublisher(store, CATALOG, SHOP, platform, lone(store), transport)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(publisher.run)
        yield publisher
        nursery.cancel_scope.cancel()


async def expected(store: Store) -> dict[str, Any]:
    """The feed products as the catalog and the stock make them now."""
    available = await available_units(store, CATALOG.products)
    return {p["id"]: p for p in wire.catalog_products(CATALOG, available, SHOP)}


async def sell(store: Store, holder: str, units: int) -> None:
    """What a completed checkout does to the stock."""
    assert await store.hold(holder, {CABLE: units}) == ()
    await store.consume(holder)


def failures(reason: str) -> float:
    return REGISTRY.get_sample_value("acs_feed_push_failures_total", {"reason": reason}) or 0.0


def lag() -> float | None:
    return REGISTRY.get_sample_value("acs_feed_push_lag_seconds")


async def test_the_first_push_creates_the_feed_and_sends_every_product(
    autojump_clock: trio.testing.MockClock, store: Store
) -> None:
    fake = FakeFeedPlatform(KEY)
    async with publishing(store, fake) as publisher:
        await fake.wait_until(lambda: len(fake.pushed()) == len(PRODUCTS))
    create, *upserts = fake.requests
    assert (create.method, create.path, create.status) == ("POST", "/acp/feeds", 201)
    assert create.body == {"target_country": "US"}
    assert [len(r.body["products"]) for r in upserts] == [2, 2, 1]  # batches of 2
    assert all(r.path == "/acp/feeds/feed_1/products" for r in upserts)
    for request in fake.requests:
        assert not request.problems, request.problems  # schema-valid, with the key
        assert request.headers["api-version"] == "2026-04-17"
    now = await expected(store)
    assert fake.feeds == {"feed_1": now}
    state = await store.load_feed_push(publisher.target)
    assert state is not None and state.feed_id == "feed_1"
    assert state.pushed == {product_id: digest(p) for product_id, p in now.items()}


async def test_the_sale_of_the_last_unit_is_pushed_within_the_interval_and_only_it(
    autojump_clock: trio.testing.MockClock, store: Store
) -> None:
    fake = FakeFeedPlatform(KEY)
    async with publishing(store, fake):
        await fake.wait_until(lambda: len(fake.pushed()) == len(PRODUCTS))
        await sell(store, "cs_1", 2)  # 1 left: still limited_stock, so no change
        await trio.sleep(5 * INTERVAL)
        assert len(fake.upserts) == 3
        sold_at = trio.current_time()
        await sell(store, "cs_2", 1)
        await fake.wait_until(lambda: fake.availability()[CABLE] == "out_of_stock")
        assert trio.current_time() - sold_at <= INTERVAL
        await trio.sleep(5 * INTERVAL)
    assert [p["id"] for p in fake.upserts[-1].body["products"]] == [CABLE]
    assert len(fake.upserts) == 4
    assert fake.newest() == await expected(store)


async def test_a_hold_and_its_release_are_pushed_as_they_happen(
    autojump_clock: trio.testing.MockClock, store: Store
) -> None:
    fake = FakeFeedPlatform(KEY)
    async with publishing(store, fake):
        await fake.wait_until(lambda: len(fake.pushed()) == len(PRODUCTS))
        assert await store.hold("cs_open", {CABLE: 3}) == ()  # an open checkout holds all
        await fake.wait_until(lambda: fake.availability()[CABLE] == "out_of_stock")
        await store.release("cs_open")  # canceled, or expired
        await fake.wait_until(lambda: fake.availability()[CABLE] == "limited_stock")
    assert fake.pushed()[len(PRODUCTS) :] == [CABLE, CABLE]


async def test_failures_back_off_and_a_429_waits_for_its_retry_after(
    autojump_clock: trio.testing.MockClock, store: Store
) -> None:
    fake = FakeFeedPlatform(KEY, faults=[Fault(503), Fault(429, "7"), None, Fault(500)])
    before = {reason: failures(reason) for reason in ("server_error", "throttled")}
    async with publishing(store, fake):
        await fake.wait_until(lambda: len(fake.requests) == 2)
        assert (lag() or 0) > 0  # every product waits for the feed
        await fake.wait_until(lambda: len(fake.pushed()) == len(PRODUCTS), timeout=60)
        await trio.sleep(INTERVAL)
        assert lag() == 0
    assert [r.status for r in fake.requests] == [503, 429, 201, 500, 200, 200, 200]
    at = [r.at for r in fake.requests]
    assert at[1] - at[0] >= 0.9 * INTERVAL  # the first failure waits about an interval
    assert at[2] - at[1] >= 7  # Retry-After, longer than the backoff (2 s)
    assert at[4] - at[3] >= 0.9 * 4 * INTERVAL  # doubled twice: three failures in a row
    assert failures("server_error") - before["server_error"] == 2
    assert failures("throttled") - before["throttled"] == 1
    assert fake.newest() == await expected(store)


@pytest.mark.parametrize(
    "refusal", [Fault(400), Fault(200, answer={"id": "feed_1", "accepted": False})]
)
async def test_a_refused_batch_is_set_aside_while_the_others_go_on(
    autojump_clock: trio.testing.MockClock, store: Store, refusal: Fault
) -> None:
    fake = FakeFeedPlatform(KEY, faults=[None, None, refusal])
    async with publishing(store, fake):
        await fake.wait_until(lambda: len(fake.requests) == 4)
        refused = fake.requests[2]
        assert refused.status == refusal.status
        assert len(fake.pushed()) == len(PRODUCTS) - 2  # the other batches went on
        await trio.sleep(REFUSED_PAUSE_SECONDS - 2 * INTERVAL)
        assert len(fake.requests) == 4  # not hammered
        await fake.wait_until(lambda: len(fake.pushed()) == len(PRODUCTS))
    assert fake.upserts[-1].body == refused.body  # kept pending, then sent again
    assert fake.newest() == await expected(store)


async def test_a_feed_the_platform_lost_is_created_again_and_filled(
    autojump_clock: trio.testing.MockClock, store: Store
) -> None:
    fake = FakeFeedPlatform(KEY)
    async with publishing(store, fake):
        await fake.wait_until(lambda: len(fake.pushed()) == len(PRODUCTS))
        fake.feeds.clear()  # the platform dropped it: the next upsert answers 404
        await sell(store, "cs_1", 3)
        await fake.wait_until(lambda: len(fake.newest()) == len(PRODUCTS))
    assert fake.created == 2 and list(fake.feeds) == ["feed_2"]
    assert fake.newest() == await expected(store)
    creates = [r for r in fake.requests if r.method == "POST"]
    keys = [r.headers["idempotency-key"] for r in creates]
    assert keys[0].endswith("-after-none") and keys[1].endswith("-after-feed_1")


async def test_a_push_cut_off_before_its_answer_is_resumed_without_repeating_the_rest(
    autojump_clock: trio.testing.MockClock, store: Store
) -> None:
    fake = FakeFeedPlatform(KEY, stall_upsert=2)  # applied, then the process dies
    async with publishing(store, fake):
        await fake.stalled.wait()
    first, cut_off = ([p["id"] for p in r.body["products"]] for r in fake.upserts)
    async with publishing(store, fake):  # a new process on the same store
        await fake.wait_until(lambda: len(fake.newest()) == len(PRODUCTS))
        await trio.sleep(5 * INTERVAL)  # and nothing more after that
    pushes = Counter(fake.pushed())
    assert {p: pushes[p] for p in first} == dict.fromkeys(first, 1)
    assert {p: pushes[p] for p in cut_off} == dict.fromkeys(cut_off, 2)  # not recorded: again
    rest = set(PRODUCTS) - set(first) - set(cut_off)
    assert {p: pushes[p] for p in rest} == dict.fromkeys(rest, 1)
    assert fake.created == 1
    assert fake.newest() == await expected(store)


class StoreDown(StoreOutage):
    down = frozenset({"stocks"})


async def test_an_unavailable_store_defers_the_push(
    autojump_clock: trio.testing.MockClock, store_factory: StoreFactory
) -> None:
    store: Any = store_factory(StoreDown)
    await store.seed_stock(CATALOG.stock_levels())
    before = failures("store")
    fake = FakeFeedPlatform(KEY)
    async with publishing(store, fake):
        await trio.sleep(3 * INTERVAL)
        assert failures("store") - before >= 3 and fake.pushed() == []
        store.down = frozenset()
        await fake.wait_until(lambda: len(fake.pushed()) == len(PRODUCTS))

"""The feed publisher: keeps a product feed on an agent platform in step with the
catalog (`FEED_PUSH_URL`: the base of the platform's Feed API, 2026-04-17).

Each round (every `FEED_PUSH_INTERVAL_SECONDS`, so the changes in between go out
together) it renders every feed product from the catalog and the units available now
(one store call), and upserts those whose content differs from what the platform
last accepted (`protocol/feed_push`), in batches. The store keeps the remote feed's id
and, written after each accepted batch, the digest of each product accepted: a restart
resumes from there, so no change is lost and nothing unchanged since its recorded push
is sent again (a process that dies between a batch's acceptance and its record sends
that one batch again). The feed is created once per platform and market, and again
when the platform answers 404 for it (then everything is pushed to the new one).

Failures never crash it. A network error, a timeout, 429 or 5xx ends the round, and
the next one waits: doubling from the interval up to `MAX_BACKOFF_SECONDS`, never
sooner than `Retry-After`. Any other 4xx (or `"accepted": false`) refuses one batch:
logged, its products stay pending, set aside for `REFUSED_PAUSE_SECONDS` (unless they
change), and the other batches go on. With several instances one publishes: the
holder of the `feed-publisher` lock, taken every round and again before each request;
a dead publisher's lock lapses within `Platform.lock_ttl` and another instance takes
over.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

import httpx
import orjson
import structlog
import trio

from agentic_commerce import metrics
from agentic_commerce.actors.ownership import Ownership
from agentic_commerce.config.settings import Settings
from agentic_commerce.domain.catalog import Catalog
from agentic_commerce.protocol import feed as wire
from agentic_commerce.protocol import feed_push
from agentic_commerce.protocol.base import JSON
from agentic_commerce.protocol.feed_push import Change
from agentic_commerce.store.base import FeedPush, Store, StoreUnavailable, available_units
from agentic_commerce.webhooks.policy import parse_retry_after

log = structlog.get_logger("agentic_commerce.feed_publisher")
LOCK = "feed-publisher"
MAX_BACKOFF_SECONDS = 300.0
REFUSED_PAUSE_SECONDS = 300.0
JITTER = 0.1


@dataclass(frozen=True, slots=True)
class Platform:
    """Where the feed is pushed, and how (the `FEED_PUSH_*` settings)."""

    url: str
    api_key: str = field(repr=False)
    country: str | None
    interval: float
    batch_size: int
    timeout: float

    @property
    def target(self) -> str:
        return feed_push.target(self.url, self.country)

    @property
    def lock_ttl(self) -> float:
        """Outlasts the longest gap between two renewals (a round's request, bounded by
        the timeout, plus a few intervals of slack)."""
        return self.timeout + 3 * self.interval


def platform_of(settings: Settings) -> Platform | None:
    """None (no push) unless `FEED_PUSH_URL` is set (the settings demand its key then)."""
    if not settings.feed_push_url or not settings.feed_push_api_key:
        return None
    return Platform(
        url=settings.feed_push_url,
        api_key=settings.feed_push_api_key,
        country=settings.feed_push_target_country,
        interval=settings.feed_push_interval_seconds,
        batch_size=settings.feed_push_batch_size,
        timeout=settings.feed_push_timeout_seconds,
    )


def backoff(
    failures: int, interval: float, retry_after: float | None, rng: random.Random | None = None
) -> float:
    """Seconds before the next try after `failures` in a row: doubling from the
    interval (with jitter) up to the cap, never sooner than the platform asked."""
    base = min(interval * 2.0 ** min(failures - 1, 32), MAX_BACKOFF_SECONDS)
    return max(base * (1 + (rng or random).uniform(-JITTER, JITTER)), retry_after or 0.0)


class PushFailed(Exception):
    """The platform did not accept a request: why (the metric's label), what it said
    (its status, None for no answer), and how long it asked to wait."""

    def __init__(
        self,
        reason: str,
        detail: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.status = status
        self.retry_after = retry_after


class Refused(PushFailed):
    """A 4xx other than 429 (or 404 for the feed): this request will not be accepted."""


class FeedGone(Exception):
    """The platform does not know the feed (404)."""


def _error_code(response: httpx.Response) -> str:
    """The `code` of an ACP error body, if it has one (never the whole body)."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return ""
    code = body.get("code") if isinstance(body, dict) else None
    return code[:100] if isinstance(code, str) else ""


class FeedPublisher:
    """A permanent child of the services supervisor (`run`); what it keeps in memory
    (backoff, set-aside batches, when each pending change was first seen) only paces
    it: the store says what is pushed."""

    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        shop_url: str,
        platform: Platform,
        ownership: Ownership,
        transport: httpx.AsyncBaseTransport | None = None,  # tests: an in-process platform
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.shop_url = shop_url
        self.platform = platform
        self.ownership = ownership
        self.transport = transport
        self.target = platform.target
        self._failures = 0
        self._resume_at = -math.inf  # trio time before which no round runs
        self._set_aside: dict[tuple[str, str], float] = {}  # (product, digest): until
        self._pending_since: dict[str, float] = {}  # product: trio time first seen changed
        self._client: httpx.AsyncClient | None = None

    async def run(self) -> None:
        """A round every interval, for ever."""
        metrics.initialise_feed_push()
        log.info(
            "feed_push_started",
            host=urlsplit(self.platform.url).hostname,
            target_country=self.platform.country,
            interval_seconds=self.platform.interval,
        )
        headers = {
            "Authorization": f"Bearer {self.platform.api_key}",
            "API-Version": wire.VERSION,
            "Content-Type": "application/json",
        }
        async with httpx.AsyncClient(
            base_url=self.platform.url, headers=headers, transport=self.transport
        ) as client:
            self._client = client
            while True:
                started = trio.current_time()
                await self._tick()
                await trio.sleep_until(started + self.platform.interval)

    async def _tick(self) -> None:
        """Keep (or take) the lock; push, unless backing off; report the lag."""
        try:
            if not await self.ownership.may_run(LOCK, self.platform.lock_ttl):
                self._pending_since.clear()  # another instance publishes, and reports
            elif trio.current_time() >= self._resume_at:
                await self._round()
                self._failures = 0
        except PushFailed as failed:
            self._back_off(failed)
        except StoreUnavailable:  # next round; a crash would spend restart intensity
            metrics.FEED_PUSH_FAILURES.labels("store").inc()
            log.warning("feed_push_deferred", reason="store unavailable")
        oldest = min(self._pending_since.values(), default=None)
        metrics.FEED_PUSH_LAG.set(0 if oldest is None else trio.current_time() - oldest)

    async def _round(self) -> None:
        state = await self.store.load_feed_push(self.target)
        available = await available_units(self.store, self.catalog.products)
        products = wire.catalog_products(self.catalog, available, self.shop_url)
        found = feed_push.changes(products, state.pushed if state else {})
        now = trio.current_time()
        self._pending_since = {c.id: self._pending_since.get(c.id, now) for c in found}
        state = state or await self._create(None)
        self._set_aside = {key: t for key, t in self._set_aside.items() if t > now}
        due = [c for c in found if (c.id, c.digest) not in self._set_aside]
        pushed = 0
        for batch in feed_push.batches(due, self.platform.batch_size):
            if not await self.ownership.may_run(LOCK, self.platform.lock_ttl):
                return  # another instance took over (this one was cut off for a while)
            try:
                await self._upsert(state.feed_id, batch)
            except Refused as refused:
                self._set_batch_aside(batch, refused)
                continue
            except FeedGone:
                log.warning("feed_push_feed_gone", feed_id=state.feed_id)
                await self._create(state.feed_id)  # everything goes to it next round
                return
            digests = {c.id: c.digest for c in batch}
            await self.store.record_feed_push(self.target, state.feed_id, digests)
            metrics.FEED_PRODUCTS_PUSHED.inc(len(batch))
            for change in batch:
                self._pending_since.pop(change.id, None)
            pushed += len(batch)
        if pushed:
            log.info("feed_pushed", feed_id=state.feed_id, products=pushed)

    async def _create(self, previous: str | None) -> FeedPush:
        """A new remote feed. Its Idempotency-Key names the feed it replaces, so a
        create retried after a crash (before the id was stored) can be recognised."""
        key = f"feed-create-{self.target}-after-{previous or 'none'}"
        body = await self._send(
            "POST",
            "/feeds",
            feed_push.create_request(self.platform.country),
            {"Idempotency-Key": key},
        )
        feed_id = feed_push.created_feed_id(body)
        if feed_id is None:
            raise Refused("refused", "the create answered no feed id")
        await self.store.start_feed_push(self.target, feed_id)
        log.info("feed_push_feed_created", feed_id=feed_id)
        return FeedPush(feed_id, {})

    async def _upsert(self, feed_id: str, batch: Sequence[Change]) -> None:
        path = f"/feeds/{quote(feed_id, safe='')}/products"
        try:
            answer = await self._send("PATCH", path, feed_push.upsert_request(batch))
        except Refused as refused:
            if refused.status == 404:
                raise FeedGone() from None
            raise
        if not feed_push.upsert_accepted(answer):
            raise Refused("refused", "the upsert was answered accepted: false")

    async def _send(
        self, method: str, path: str, body: JSON, headers: Mapping[str, str] | None = None
    ) -> bytes:
        """The body of a 2xx answer; else PushFailed (Refused for a 4xx but 429)."""
        assert self._client is not None
        try:
            with trio.fail_after(self.platform.timeout):
                response = await self._client.request(
                    method, path, content=orjson.dumps(body), headers=headers
                )
        except (httpx.HTTPError, trio.TooSlowError) as exc:
            raise PushFailed("network", type(exc).__name__) from None
        status = response.status_code
        if 200 <= status < 300:
            return response.content
        detail = f"HTTP {status} {_error_code(response)}".strip()
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status == 429:
            raise PushFailed("throttled", detail, status, retry_after)
        if status >= 500:
            raise PushFailed("server_error", detail, status, retry_after)
        raise Refused("refused", detail, status)

    def _back_off(self, failed: PushFailed) -> None:
        self._failures += 1
        delay = backoff(self._failures, self.platform.interval, failed.retry_after)
        self._resume_at = trio.current_time() + delay
        metrics.FEED_PUSH_FAILURES.labels(failed.reason).inc()
        log.warning(
            "feed_push_failed",
            reason=failed.reason,
            detail=failed.detail,
            failures=self._failures,
            retry_in_seconds=round(delay, 3),
        )

    def _set_batch_aside(self, batch: Sequence[Change], refused: Refused) -> None:
        until = trio.current_time() + REFUSED_PAUSE_SECONDS
        for change in batch:
            self._set_aside[(change.id, change.digest)] = until
        metrics.FEED_PUSH_FAILURES.labels(refused.reason).inc()
        log.warning(
            "feed_push_refused",
            detail=refused.detail,
            products=[change.id for change in batch][:20],
            retry_in_seconds=REFUSED_PAUSE_SECONDS,
        )

"""What the feed publisher sends an agent platform's Feed API (2026-04-17), pure: which
products changed since they were last pushed, in batches, and the request bodies.

A product's content is fingerprinted by a digest of its canonical JSON (availability
included), so "changed" means "its `Product` body differs from the last one the
platform accepted": a stock change that leaves every variant's availability as it was
changes nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import orjson

from agentic_commerce.protocol.base import JSON


def digest(product: JSON) -> str:
    """The fingerprint of a product's content: key order and spacing do not count."""
    return hashlib.sha256(orjson.dumps(product, option=orjson.OPT_SORT_KEYS)).hexdigest()


def target(base_url: str, country: str | None) -> str:
    """The name of one remote feed's push state: a platform (its base URL) and a market.
    Pointing the publisher elsewhere starts a new feed there, pushed in full."""
    return hashlib.sha256(f"{base_url}\n{country or ''}".encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Change:
    """A product to push: its body now, and the digest to record once it is accepted."""

    product: JSON
    digest: str

    @property
    def id(self) -> str:
        return str(self.product["id"])


def changes(products: Iterable[JSON], pushed: Mapping[str, str]) -> list[Change]:
    """The products (in the given order) whose content differs from the digest last
    pushed for their id; a product never pushed is a change."""
    found = [Change(product, digest(product)) for product in products]
    return [change for change in found if pushed.get(change.id) != change.digest]


def batches(found: Sequence[Change], size: int) -> list[Sequence[Change]]:
    """At most `size` changes a request, in order."""
    return [found[start : start + size] for start in range(0, len(found), size)]


def create_request(country: str | None) -> JSON:
    """`CreateFeedRequest`."""
    return {} if country is None else {"target_country": country}


def upsert_request(batch: Iterable[Change]) -> JSON:
    """`UpsertProductsRequest`."""
    return {"products": [change.product for change in batch]}


def _object(body: bytes) -> dict[str, object]:
    try:
        found = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    return found if isinstance(found, dict) else {}


def created_feed_id(body: bytes) -> str | None:
    """The `id` of the `FeedMetadata` a create answered; None when there is none."""
    feed_id = _object(body).get("id")
    return feed_id if isinstance(feed_id, str) and feed_id else None


def upsert_accepted(body: bytes) -> bool:
    """Whether a 2xx answer to an upsert accepted it: all but an `UpsertProductsResponse`
    saying `"accepted": false` (a platform may answer no body at all)."""
    return _object(body).get("accepted") is not False

"""A usage-limited code spent at once from two instances on one Redis: exactly the
limit of orders get it. Real processes, a real redis-server; each complete goes to
the instance that does not run its session (forwarded), all of them at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.cluster.cluster import UPDATE_ADDRESS, Api, cluster_env, running_cluster
from tests.redis_server import RedisServer

pytestmark = pytest.mark.slow
LEASE_TTL = 2.0
LIMIT = 3
SESSIONS = 10
PROMOTION = {
    "id": "launch",
    "code": "LAUNCH",
    "name": "2.00 off, three times only",
    "amount_off": 200,
    "currency": "usd",
    "usage_limit": LIMIT,
}
CREATE = {
    "currency": "usd",
    "line_items": [{"id": "item_123"}],
    "capabilities": {"extensions": ["discount"]},
    "discounts": {"codes": ["LAUNCH"]},
    **UPDATE_ADDRESS,
}


def discount(body: dict[str, Any]) -> int:
    return sum(t["amount"] for t in body["totals"] if t["type"] == "discount")


def refusals(body: dict[str, Any]) -> list[str]:
    return [r["reason"] for r in body["discounts"]["rejected"]]


def test_two_instances_never_spend_more_than_the_limit(
    own_redis: RedisServer, tmp_path: Path
) -> None:
    promotions = tmp_path / "promotions.json"
    promotions.write_bytes(orjson.dumps({"promotions": [PROMOTION]}))
    env = cluster_env(own_redis.url, LEASE_TTL, PROMOTIONS_FILE=str(promotions))
    with running_cluster(2, env) as cluster:
        apis = [Api(instance) for instance in cluster.instances]
        try:
            created = [apis[i % 2].create(CREATE) for i in range(SESSIONS)]
            assert all(c.status == 201 and discount(c.body) == 200 for c in created)

            def complete(index: int) -> dict[str, Any]:
                other = apis[(index + 1) % 2]  # not the instance running the session
                reply = other.complete(created[index].body["id"])
                assert reply.status == 200, reply.body
                return dict(reply.body)

            with ThreadPoolExecutor(SESSIONS) as pool:
                answers = list(pool.map(complete, range(SESSIONS)))
            discounted = [a for a in answers if a["status"] == "completed"]
            assert len(discounted) == LIMIT
            assert all(discount(a) == 200 and a["order"]["id"] for a in discounted)
            refused = [a for a in answers if a["status"] != "completed"]
            assert all(
                refusals(a) == ["discount_code_usage_limit_reached"] and discount(a) == 0
                for a in refused
            )
            # Paying the new total places the order, without the discount.
            for answer in refused:
                paid = apis[0].complete(answer["id"])
                assert paid.body["status"] == "completed" and discount(paid.body) == 0
            late = apis[1].create(CREATE)
            assert refusals(late.body) == ["discount_code_usage_limit_reached"]
        finally:
            for api in apis:
                api.close()

"""An early refusal (sent before the request body is read) must not wedge the
keep-alive connection it came on: the next request on it is answered."""

from __future__ import annotations

import httpx

from tests.e2e.server import running_server
from tests.real_requests import HEADERS

BODY = {"currency": "usd", "line_items": [{"id": "test"}], "capabilities": {}}


def test_refusals_before_the_body_keep_the_connection_usable() -> None:
    with (
        running_server(RATE_LIMIT_PER_MINUTE="60", RATE_LIMIT_BURST="1", LOG_LEVEL="warning") as s,
        httpx.Client(base_url=s.base_url, headers=HEADERS, timeout=5) as http,
    ):
        statuses = [
            http.post(
                "/checkout_sessions", json=BODY, headers={"Idempotency-Key": f"k{n}"}
            ).status_code
            for n in range(6)
        ]
        unauthorized = http.post("/checkout_sessions", json=BODY, headers={"Authorization": "x"})
        assert statuses == [201, 429, 429, 429, 429, 429]
        assert unauthorized.status_code == 401
        assert http.get("/health").status_code == 200

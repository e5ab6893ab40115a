"""The real server process over real HTTP: start, serve a checkout, stop cleanly."""

from __future__ import annotations

import subprocess
import sys

import httpx
import orjson

from tests import acp_schema
from tests.e2e.server import running_server
from tests.real_requests import HEADERS


def test_full_checkout_over_http_and_clean_shutdown() -> None:
    with running_server(LOG_LEVEL="info") as server:
        with httpx.Client(base_url=server.base_url, headers=HEADERS, timeout=10) as http:
            assert http.get("/ready").json()["status"] == "ready"
            created = http.post(
                "/checkout_sessions",
                headers={"Idempotency-Key": "e2e-create-1"},
                json={
                    "currency": "usd",
                    "line_items": [{"id": "laptop_pro_16_inch"}],
                    "capabilities": {},
                    "fulfillment_details": {
                        "name": "Ann",
                        "address": {
                            "name": "Ann",
                            "line_one": "5 Main St",
                            "city": "Austin",
                            "state": "TX",
                            "country": "US",
                            "postal_code": "73301",
                        },
                    },
                },
            )
            assert created.status_code == 201
            acp_schema.assert_checkout_session("2026-04-17", created.json())
            session_id = created.json()["id"]
            completed = http.post(
                f"/checkout_sessions/{session_id}/complete",
                headers={"Idempotency-Key": "e2e-complete-1"},
                json={
                    "payment_data": {
                        "handler_id": "card_tokenized",
                        "instrument": {
                            "type": "card",
                            "credential": {"type": "spt", "token": "tok_test_ok"},
                        },
                    }
                },
            )
            assert completed.status_code == 200
            acp_schema.assert_checkout_session("2026-04-17", completed.json())
            assert completed.json()["status"] == "completed"
        assert server.stop() == 0
        logs = [orjson.loads(line) for line in server.stderr.splitlines()]
    events = [entry["event"] for entry in logs]
    assert "server_started" in events
    assert "order_created" in events
    assert "store_not_durable" in events
    assert events[-1] == "server_stopped"
    assert "tok_test_ok" not in str(logs)


def test_bad_setting_exits_with_a_clear_message() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "agentic_commerce"],
        env={"PATH": "/usr/bin:/bin", "PORT": "not-a-port"},
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert b"PORT must be an integer" in result.stderr

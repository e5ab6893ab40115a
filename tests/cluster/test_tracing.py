"""One trace across instances, for real: two server processes on one redis-server
export over OTLP/HTTP to a receiver on loopback that decodes the protobuf. An
agent's complete reaches the instance that does not own the session: the trace
with the agent's id holds that instance's server span, its forward, the owner's
server span, the owner's actor, its Redis round trips and its call to (a fake)
Stripe; the webhook delivery links to it; the instances' JSON log lines carry it.
The spans leave only at shutdown (a batch delay longer than the test), so the
flush on the way out is tested too."""

from __future__ import annotations

import json

import httpx
import pytest
import trio

from tests.cluster.cluster import CREATE, HEADERS, UPDATE_ADDRESS, cluster_env, make_cluster, pay
from tests.fakes.otlp_receiver import ReceivedSpan, running_otlp_receiver
from tests.fakes.stripe_server import running_fake_stripe
from tests.fakes.webhook_receiver import running_receiver
from tests.payments.conftest import API_VERSION, SECRET
from tests.redis_server import RedisServer
from tests.traces import AGENT_SPAN_ID, AGENT_TRACE_ID, AGENT_TRACEPARENT

pytestmark = pytest.mark.slow
LEASE_TTL = 2.0
TOKEN = "spt_traced_token_0001"
WEBHOOK_SECRET = "whsec_cluster_tracing"
AGENT_TRACE = f"{AGENT_TRACE_ID:032x}"
SERVER, CLIENT = 2, 3  # the protobuf's span kinds


def one(spans: list[ReceivedSpan], name: str, instance: str) -> ReceivedSpan:
    found = [s for s in spans if s.name == name and s.resource["service.instance.id"] == instance]
    assert len(found) == 1, (name, sorted(s.name for s in spans))
    return found[0]


def below(spans: list[ReceivedSpan], parent: ReceivedSpan) -> list[ReceivedSpan]:
    """Every span under `parent`, however deep."""
    children = [s for s in spans if s.parent_span_id == parent.span_id]
    return children + [d for child in children for d in below(spans, child)]


async def test_one_trace_covers_the_agents_request_across_instances(
    own_redis: RedisServer,
) -> None:
    async with (
        running_otlp_receiver() as otlp,
        running_fake_stripe() as stripe,
        running_receiver(WEBHOOK_SECRET) as hooks,
    ):
        env = cluster_env(
            own_redis.url,
            LEASE_TTL,
            LOG_LEVEL="info",
            OTEL_EXPORTER_OTLP_ENDPOINT=otlp.url,
            OTEL_BSP_SCHEDULE_DELAY="600000",  # nothing leaves before the shutdown's flush
            OTEL_SERVICE_NAME="acs-under-test",
            STRIPE_SECRET_KEY=SECRET,
            STRIPE_API_BASE=stripe.url,
            STRIPE_API_VERSION=API_VERSION,
            WEBHOOK_URL=hooks.url,
            WEBHOOK_SECRET=WEBHOOK_SECRET,
        )
        cluster = make_cluster(2, env)
        try:
            cluster.start()
            await trio.to_thread.run_sync(cluster.wait_healthy)  # the fakes keep serving
            owner, other = cluster.instances
            async with httpx.AsyncClient(headers=HEADERS, timeout=30) as http:
                created = await http.post(
                    f"{owner.base_url}/checkout_sessions",
                    json={**CREATE, **UPDATE_ADDRESS},
                    headers={"Idempotency-Key": "idem_traced_create"},
                )
                assert created.status_code == 201, created.text
                session_id = created.json()["id"]
                done = await http.post(
                    f"{other.base_url}/checkout_sessions/{session_id}/complete",
                    json=pay(TOKEN),
                    headers={
                        "Idempotency-Key": "idem_traced_complete",
                        "traceparent": AGENT_TRACEPARENT,
                        "Request-Id": "req_agent_traced",
                    },
                )
            assert done.status_code == 200 and done.json()["status"] == "completed", done.text
            await hooks.wait_for(1)
        except BaseException:
            print(cluster.logs())
            raise
        finally:
            await trio.to_thread.run_sync(cluster.stop)  # SIGTERM: the spans are flushed
            logs = [i.log_path.read_text() for i in cluster.instances if i.log_path]
            cluster.cleanup()
        spans = await otlp.wait_until(lambda got: any(s.trace_id == AGENT_TRACE for s in got))

    traced = [s for s in spans if s.trace_id == AGENT_TRACE]
    instances = {s.resource["service.instance.id"] for s in traced}
    assert len(instances) == 2  # each process its own
    assert {s.resource["service.name"] for s in traced} == {"acs-under-test"}
    # Where the agent's request landed, continuing the agent's span:
    route = "/checkout_sessions/<session_id>/complete"
    entry = next(s for s in traced if s.name == f"POST {route}")
    here = entry.resource["service.instance.id"]
    [there] = instances - {here}
    assert entry.kind == SERVER and entry.parent_span_id == f"{AGENT_SPAN_ID:016x}"
    assert entry.attributes["acp.request_id"] == "req_agent_traced"
    assert entry.attributes["http.response.status_code"] == 200
    forward = one(traced, "POST /internal/sessions/{session_id}", here)
    assert forward.kind == CLIENT and forward.parent_span_id == entry.span_id
    # ... and on the owner, under the forward:
    served = one(traced, "POST /internal/sessions/<session_id>", there)
    assert served.kind == SERVER and served.parent_span_id == forward.span_id
    handling = one(traced, "session Complete", there)
    assert handling.parent_span_id == served.span_id
    assert one(traced, "session wait", there).parent_span_id == served.span_id
    under = below(traced, handling)
    store = [s for s in under if s.attributes.get("db.system.name") == "redis"]
    assert any("EVALSHA commit" in s.name for s in store), [s.name for s in under]
    charge = one(traced, "charge stripe", there)
    assert charge in under and charge.attributes["acs.payment.outcome"] == "charged"
    stripe_calls = [s for s in below(traced, charge) if s.kind == CLIENT]
    assert "POST /v1/payment_intents" in {s.name for s in stripe_calls}
    assert all(TOKEN not in repr(s.attributes) for s in spans)
    # The delivery: a trace of its own, linked to where the order was placed.
    [webhook] = [s for s in spans if s.name == "webhook order_create"]
    assert webhook.trace_id != AGENT_TRACE and webhook.parent_span_id == ""
    assert webhook.links == ((AGENT_TRACE, handling.span_id),)
    # The JSON log lines written inside the spans carry their ids.
    lines = [json.loads(line) for text in logs for line in text.splitlines() if line[:1] == "{"]
    requests = [
        r for r in lines if r.get("event") == "request" and r.get("trace_id") == AGENT_TRACE
    ]
    assert {r["span_id"] for r in requests} == {entry.span_id, served.span_id}

"""The MCP transport on the real server process, over real HTTP, driven by the `mcp`
SDK's own Streamable HTTP client, on both stores: the same checkout as REST (same
idempotency key space, same actors), in the binding's form."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import pytest
import trio
from mcp.shared.exceptions import MCPError

from tests import acp_schema
from tests.e2e.mcp_agent import DEMO_KEY, VERSION, connected, http_client, new_key
from tests.e2e.server import Server, running_server
from tests.real_requests import EXPRESS, HEADERS, PAY, pay, with_address

pytestmark = pytest.mark.slow
TOOLS = {
    "create_checkout_session": "CheckoutSessionCreateRequest",
    "get_checkout_session": None,
    "update_checkout_session": "CheckoutSessionUpdateRequest",
    "complete_checkout_session": "CheckoutSessionCompleteRequest",
    "cancel_checkout_session": "CancelSessionRequest",
}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


@pytest.fixture(scope="module", params=["memory", "redis"])
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    env = {"RATE_LIMIT_PER_MINUTE": "1000000", "AUTH_FAILURES_PER_MINUTE": "1000"}
    if request.param == "redis":
        env["REDIS_URL"] = request.getfixturevalue("shared_redis").url
    with running_server(**env) as running:
        yield running


def rest(server: Server) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.base_url, headers=HEADERS, timeout=30)


def examples() -> dict[str, Any]:
    path = acp_schema.spec_dir() / VERSION / "examples" / "examples.mcp.agentic_checkout.json"
    loaded: dict[str, Any] = json.loads(path.read_text())
    return copy.deepcopy(loaded)


async def scrape(server: Server) -> str:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        return (await http.get("/metrics")).text


def sample(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    match = re.search(rf"^{re.escape(name)}\{{{re.escape(wanted)}\}} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


# --------------------------------------------------------------------------- discovery, tools


async def test_discovery_lists_mcp(server: Server) -> None:
    async with rest(server) as http:
        body = (await http.get("/.well-known/acp.json")).json()
    acp_schema.validate(VERSION, "DiscoveryResponse", body)
    assert body["transports"] == ["rest", "mcp"]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_tools_are_the_bindings_with_real_request_shapes(server: Server, mode: str) -> None:
    async with connected(server.base_url, mode=mode) as agent:
        listed = {tool.name: tool for tool in (await agent.client.list_tools()).tools}
    assert set(listed) == set(TOOLS)
    bundle = acp_schema.raw_schema(VERSION)["$defs"]
    for name, definition in TOOLS.items():
        schema = listed[name].input_schema
        jsonschema.Draft202012Validator.check_schema(schema)
        assert "$ref" not in json.dumps(schema)  # resolved: nothing to fetch
        assert schema["properties"]["meta"]["required"] == ["api_version"]
        if definition is None:
            assert "payload" not in schema["properties"]
            continue
        payload = schema["properties"]["payload"]
        assert set(payload["properties"]) == set(bundle[definition]["properties"])
        assert payload.get("required") == bundle[definition].get("required")
    required = {name: listed[name].input_schema["required"] for name in TOOLS}
    assert required["create_checkout_session"] == ["meta", "payload"]
    assert required["get_checkout_session"] == ["meta", "id"]
    assert required["cancel_checkout_session"] == ["meta", "id"]  # its payload is optional


async def test_the_input_schemas_judge_the_binding_examples(server: Server) -> None:
    """The published schemas are the real request shapes: the binding's create, get and
    cancel examples fit them; its update and complete examples do not (they predate
    the 2026-04-17 shapes of fulfillment options and payment instruments)."""
    async with connected(server.base_url) as agent:
        listed = {tool.name: tool for tool in (await agent.client.list_tools()).tools}
    fits = {}
    for name in TOOLS:
        arguments = examples()[f"{name}_request"]["params"]["arguments"]
        validator = jsonschema.Draft202012Validator(listed[name].input_schema)
        fits[name] = sorted(e.json_path for e in validator.iter_errors(arguments))
    assert fits["create_checkout_session"] == []
    assert fits["get_checkout_session"] == []
    assert fits["cancel_checkout_session"] == []
    assert fits["update_checkout_session"] == ["$.payload.selected_fulfillment_options[0]"] * 3
    assert fits["complete_checkout_session"] == ["$.payload.payment_data.instrument"] * 2


# --------------------------------------------------------------------------- the checkout


async def test_full_flow_create_update_complete(server: Server) -> None:
    async with connected(server.base_url) as agent:
        created = (await agent.create(with_address())).session
        assert created["status"] == "ready_for_payment"
        session_id = created["id"]
        updated = (await agent.update(session_id, EXPRESS)).session
        assert updated["selected_fulfillment_options"][0]["option_id"] == "shipping_express"
        assert total(updated) > total(created)
        completed = (await agent.complete(session_id)).session
        assert completed["status"] == "completed"
        assert completed["order"]["checkout_session_id"] == session_id
        seen = (await agent.get(session_id)).session
        assert seen["status"] == "completed"


async def test_cancel_with_an_intent_trace(server: Server) -> None:
    trace = {"intent_trace": {"reason_code": "price_sensitivity", "trace_summary": "Too dear."}}
    async with connected(server.base_url) as agent:
        session_id = (await agent.create(with_address())).session["id"]
        canceled = (await agent.cancel(session_id, trace)).session
        assert canceled["status"] == "canceled"
        refused = await agent.refused("complete_checkout_session", agent.complete_args(session_id))
        assert refused["type"] == "invalid_request"
        other = (await agent.create(with_address())).session["id"]
        assert (await agent.cancel(other)).session["status"] == "canceled"  # payload optional


async def test_idempotent_replay_shares_the_rest_key_space(server: Server) -> None:
    key = new_key()
    async with connected(server.base_url) as agent:
        first = await agent.create(with_address(), key)
        again = await agent.create(with_address(), key)
    assert not first.replayed and again.replayed
    assert again.session == first.session
    async with rest(server) as http:  # the same key and body over REST: the same request
        replied = await http.post(
            "/checkout_sessions", json=with_address(), headers={"Idempotency-Key": key}
        )
    assert replied.status_code == 201
    assert replied.headers["Idempotent-Replayed"] == "true"
    assert replied.json() == first.session


async def test_a_rest_create_replays_over_mcp(server: Server) -> None:
    key = new_key()
    async with rest(server) as http:
        created = await http.post(
            "/checkout_sessions", json=with_address(), headers={"Idempotency-Key": key}
        )
    async with connected(server.base_url) as agent:
        replayed = await agent.create(with_address(), key)
    assert replayed.replayed
    assert replayed.session == created.json()


async def test_a_conflicting_body_is_refused(server: Server) -> None:
    key = new_key()
    async with connected(server.base_url) as agent:
        await agent.create(with_address(), key)
        other = agent.create_args(with_address("usb_c_cable"), key)
        refused = await agent.refused("create_checkout_session", other)
    assert refused["code"] == "idempotency_conflict"  # REST: 422
    assert refused["param"] == "$.meta.idempotency_key"


async def test_without_a_key_a_call_is_not_deduplicated(server: Server) -> None:
    async with connected(server.base_url) as agent:
        one = await agent.create(with_address(), key=None)
        two = await agent.create(with_address(), key=None)
    assert one.session["id"] != two.session["id"]


async def test_a_missing_api_version(server: Server) -> None:
    async with connected(server.base_url) as agent:
        arguments = {"meta": {"idempotency_key": new_key()}, "payload": with_address()}
        refused = await agent.refused("create_checkout_session", arguments)
        no_meta = await agent.refused("get_checkout_session", {"id": "cs_x"})
    for error in (refused, no_meta):
        assert error["code"] == "missing_api_version"
        assert error["param"] == "$.meta.api_version"
        assert VERSION in error["supported_versions"]


async def test_bad_arguments_get_acp_errors_pointing_into_them(server: Server) -> None:
    async with connected(server.base_url) as agent:
        missing = await agent.refused("create_checkout_session", {"meta": agent.meta(new_key())})
        meta_type = await agent.refused(
            "get_checkout_session", {"meta": {"api_version": 20260417}, "id": "cs_x"}
        )
        no_id = await agent.refused("get_checkout_session", {"meta": agent.meta()})
        unknown = await agent.refused("get_checkout_session", {"meta": agent.meta(), "id": "a/b"})
        body = await agent.refused(
            "create_checkout_session",
            agent.create_args(
                {**with_address(), "line_items": [{"id": "item_123", "quantity": 0}]}
            ),
        )
    assert (missing["code"], missing["param"]) == ("missing_required_field", "$.payload")
    assert (meta_type["code"], meta_type["param"]) == ("invalid_field", "$.meta.api_version")
    assert (no_id["code"], no_id["param"]) == ("missing_required_field", "$.id")
    assert unknown["code"] == "not_found"
    assert body["param"].startswith("$.payload.line_items[0]")


async def test_a_declined_token_is_an_error(server: Server) -> None:
    async with connected(server.base_url) as agent:
        session_id = (await agent.create(with_address())).session["id"]
        arguments = agent.complete_args(session_id, pay("tok_test_decline"))
        declined = await agent.refused("complete_checkout_session", arguments)
        after = (await agent.get(session_id)).session
    assert declined["type"] == "processing_error"
    assert declined["code"] == "payment_declined"
    assert declined["param"] == "$.payload.payment_data"
    assert after["status"] == "ready_for_payment"  # pay again, as over REST
    binding = examples()["error_payment_declined"]["error"]
    assert {k: declined[k] for k in ("type", "code")} == {
        k: binding["data"][k] for k in ("type", "code")
    }


# --------------------------------------------------------------------------- authentication


async def test_a_wrong_or_missing_key_is_refused_on_every_request(server: Server) -> None:
    before = await scrape(server)
    for key in ("wrong_key", None):
        async with http_client(key) as http:
            for method in ("initialize", "tools/list", "tools/call"):
                call = {**INITIALIZE, "method": method}
                if method == "tools/call":
                    payload = with_address()
                    call["params"] = {
                        "name": "create_checkout_session",
                        "arguments": {"meta": {"api_version": VERSION}, "payload": payload},
                    }
                reply = await http.post(f"{server.base_url}/mcp", json=call, headers=MCP_HEADERS)
                assert reply.status_code == 401, reply.text
                assert reply.headers["WWW-Authenticate"] == 'Bearer realm="acp"'
                acp_schema.assert_error(VERSION, reply.json())
        with pytest.RaisesGroup(MCPError, flatten_subgroups=True):  # it cannot even connect
            async with connected(server.base_url, key=key):
                pass
    after = await scrape(server)
    labels = {"operation": "create", "transport": "mcp"}
    for outcome in ("ok", "refused", "failed"):  # no tool ran
        name = "acs_checkout_operations_total"
        assert sample(after, name, **labels, outcome=outcome) == sample(
            before, name, **labels, outcome=outcome
        )
    failures = "acs_auth_failures_total"
    assert sample(after, failures, reason="invalid_api_key") > sample(
        before, failures, reason="invalid_api_key"
    )


async def test_the_right_key_initializes(server: Server) -> None:
    async with http_client(DEMO_KEY) as http:
        reply = await http.post(f"{server.base_url}/mcp", json=INITIALIZE, headers=MCP_HEADERS)
    assert reply.status_code == 200
    assert reply.json()["result"]["serverInfo"]["name"] == "agentic-commerce-server"


# --------------------------------------------------------------------------- mixed transports


async def test_create_over_mcp_complete_over_rest_and_the_reverse(server: Server) -> None:
    async with connected(server.base_url) as agent, rest(server) as http:
        over_mcp = (await agent.create(with_address())).session["id"]
        completed = await http.post(
            f"/checkout_sessions/{over_mcp}/complete",
            json=PAY,
            headers={"Idempotency-Key": new_key()},
        )
        assert completed.status_code == 200
        acp_schema.assert_checkout_session(VERSION, completed.json(), complete=True)
        assert completed.json()["status"] == "completed"
        assert (await agent.get(over_mcp)).session["order"] == completed.json()["order"]

        created = await http.post(
            "/checkout_sessions", json=with_address(), headers={"Idempotency-Key": new_key()}
        )
        over_rest = created.json()["id"]
        done = (await agent.complete(over_rest)).session
        assert done["status"] == "completed"
        seen = await http.get(f"/checkout_sessions/{over_rest}")
        assert seen.json()["order"] == done["order"]


async def test_twenty_concurrent_completes_across_transports_make_one_order(
    server: Server,
) -> None:
    before = await scrape(server)
    orders: list[str] = []
    retryable: list[str] = []
    async with connected(server.base_url) as agent, rest(server) as http:
        session_id = (await agent.create(with_address())).session["id"]

        async def over_mcp() -> None:
            try:
                result = await agent.client.call_tool(
                    "complete_checkout_session", agent.complete_args(session_id)
                )
            except MCPError as error:
                assert error.data["type"] == "service_unavailable", error.data
                retryable.append(error.data["code"])
                return
            session = result.structured_content
            acp_schema.assert_checkout_session(VERSION, session, complete=True)
            orders.append(session["order"]["id"])

        async def over_rest() -> None:
            reply = await http.post(
                f"/checkout_sessions/{session_id}/complete",
                json=PAY,
                headers={"Idempotency-Key": new_key()},
            )
            if reply.status_code in (409, 503):
                retryable.append(reply.json()["code"])
                return
            assert reply.status_code == 200, reply.text
            orders.append(reply.json()["order"]["id"])

        async with trio.open_nursery() as nursery:
            for _ in range(10):
                nursery.start_soon(over_mcp)
                nursery.start_soon(over_rest)
    assert len(orders) + len(retryable) == 20
    assert len(set(orders)) == 1
    after = await scrape(server)
    charged = {"processor": "simulated", "outcome": "charged"}
    assert (
        sample(after, "acs_payments_total", **charged)
        - sample(before, "acs_payments_total", **charged)
        == 1
    )
    for transport in ("mcp", "rest"):
        labels = {"operation": "complete", "transport": transport, "outcome": "ok"}
        name = "acs_checkout_operations_total"
        assert sample(after, name, **labels) - sample(before, name, **labels) >= 1


# --------------------------------------------------------------------------- the binding's examples


async def test_the_binding_examples_replayed(server: Server) -> None:
    """Each request example of the binding, its ids adapted to this catalog (item
    `item_123`, option `shipping_express`, token `tok_test_ok`). Outcomes: create,
    get and cancel answer a session; update and complete are refused as invalid, as
    their payloads break the 2026-04-17 schema (README, MCP section)."""
    sent = examples()

    def arguments(name: str) -> dict[str, Any]:
        found: dict[str, Any] = sent[f"{name}_request"]["params"]["arguments"]
        found["meta"]["idempotency_key"] = new_key()  # fresh per run
        return found

    async with connected(server.base_url) as agent:
        create = arguments("create_checkout_session")
        created = (await agent.call("create_checkout_session", create)).session
        assert created["status"] == "ready_for_payment"
        session_id = created["id"]

        get = arguments("get_checkout_session")
        get["id"] = session_id
        assert (await agent.call("get_checkout_session", get)).session["id"] == session_id

        update = arguments("update_checkout_session")
        update["id"] = session_id
        update["payload"]["selected_fulfillment_options"][0]["shipping"]["option_id"] = (
            "shipping_express"
        )
        refused = await agent.refused("update_checkout_session", update)
        assert refused["type"] == "invalid_request"
        assert refused["param"].startswith("$.payload.selected_fulfillment_options[0]")

        complete = arguments("complete_checkout_session")
        complete["id"] = session_id
        complete["payload"]["payment_data"]["instrument"]["token"] = "tok_test_ok"
        refused = await agent.refused("complete_checkout_session", complete)
        assert refused["code"] == "missing_required_field"
        assert refused["param"].startswith("$.payload.payment_data.instrument")

        cancel = arguments("cancel_checkout_session")
        cancel["id"] = session_id
        assert (await agent.call("cancel_checkout_session", cancel)).session["status"] == "canceled"

        missing = arguments("create_checkout_session")
        del missing["payload"]["currency"]
        error = await agent.refused("create_checkout_session", missing)
    binding = sent["error_invalid_request"]["error"]["data"]
    assert {k: error[k] for k in ("type", "code", "param")} == {
        k: binding[k] for k in ("type", "code", "param")
    }


def total(session: dict[str, Any]) -> int:
    return int(next(t["amount"] for t in session["totals"] if t["type"] == "total"))

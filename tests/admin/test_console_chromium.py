"""The operators' console in a real browser: headless Chromium (driven over the
DevTools protocol, `browser.py`) against real server processes, with a real webhook
receiver on loopback.

One instance on the memory store: an operator signs in, finds an order, refunds it
and the `order_update` webhook arrives; kills an actor and sees its restart count
grow in the tree; a form whose CSRF token was taken out is refused. Two instances on
a real redis-server: the console shows both trees, a refund of an order whose
session another instance owns is forwarded there, a kill reaches the other
instance, and a cookie signed out on one instance no longer works on the other.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import trio

from tests.admin.browser import Browser, Page, chromium
from tests.cluster.cluster import ADDRESS, cluster_env, running_cluster
from tests.cluster.cluster import ADMIN_KEY as CLUSTER_ADMIN_KEY
from tests.e2e.server import running_server
from tests.fakes.webhook_receiver import running_receiver
from tests.redis_server import RedisServer

pytestmark = pytest.mark.slow
T = TypeVar("T")
ADMIN_KEY = "admin_key_browser_5d21"
WEBHOOK_SECRET = "whsec_console_browser_tests_0123456789"
LEASE_TTL = 2.0


def artifacts_dir() -> Path:
    """Where screenshots are kept: $ARTIFACTS_DIR, else tests/artifacts (git-ignored)."""
    path = Path(os.environ.get("ARTIFACTS_DIR") or Path(__file__).parents[1] / "artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@asynccontextmanager
async def in_thread(manager: AbstractContextManager[T]) -> AsyncIterator[T]:
    """A blocking context manager (real processes) entered and left in a worker
    thread, so this trio run (the webhook receiver) keeps serving meanwhile."""
    value = await trio.to_thread.run_sync(manager.__enter__)
    try:
        yield value
    except BaseException as error:
        with trio.CancelScope(shield=True):
            exit_ = manager.__exit__
            if not await trio.to_thread.run_sync(exit_, type(error), error, error.__traceback__):
                raise
    else:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(manager.__exit__, None, None, None)


async def acp_post(base_url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    headers = {
        "Authorization": "Bearer api_key_demo_123",
        "API-Version": "2026-04-17",
        "Idempotency-Key": f"console-{uuid.uuid4().hex}",
    }
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(f"{base_url}{path}", headers=headers, json=body)
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


async def create_session(base_url: str, **extra: Any) -> str:
    body = {"currency": "usd", "line_items": [{"id": "item_123"}], "capabilities": {}, **extra}
    return str((await acp_post(base_url, "/checkout_sessions", body))["id"])


async def place_order(base_url: str) -> str:
    session_id = await create_session(
        base_url, fulfillment_details={"name": "Jane Doe", "address": ADDRESS}
    )
    credential = {"type": "spt", "token": "tok_test_ok"}
    payment = {
        "handler_id": "card_tokenized",
        "instrument": {"type": "card", "credential": credential},
    }
    done = await acp_post(
        base_url, f"/checkout_sessions/{session_id}/complete", {"payment_data": payment}
    )
    assert done["status"] == "completed"
    return str(done["order"]["id"])


def js(value: str) -> str:
    return json.dumps(value)


async def sign_in(page: Page, base_url: str, key: str, name: str) -> None:
    await page.goto(f"{base_url}/admin/")
    await page.evaluate(
        f"document.getElementById('name').value = {js(name)};"
        f"document.getElementById('key').value = {js(key)};"
        "document.querySelector('form').requestSubmit();"
    )
    await page.wait_for("document.querySelectorAll('section.instance .tree').length > 0")


async def find(page: Page, found_id: str) -> None:
    await page.evaluate(
        f"document.getElementById('find-id').value = {js(found_id)};"
        "document.getElementById('find').requestSubmit();"
    )
    await page.wait_for(f"document.querySelector('article.found')?.dataset.id === {js(found_id)}")


async def refund(page: Page, amount: int) -> str:
    """Refunds from the found order's form; the outcome the page lists."""
    await page.evaluate(
        "{ const form = document.querySelector('article.found form.refund');"
        f"form.elements.amount.value = '{amount}';"
        "form.elements.reason.value = 'damaged in transit';"
        "form.requestSubmit(); }"
    )
    fact = "document.querySelector('article.found dd[data-fact=\"refunded\"]')?.textContent"
    await page.wait_for(f"{fact} === '{amount}'")
    return str(await page.wait_for("document.querySelector('#outcomes li')?.textContent"))


def actor(instance: str | None, actor_id: str) -> str:
    """The script that finds an actor's item in an instance's tree (the first: any)."""
    section = f"section.instance[data-instance={js(instance)}]" if instance else "section.instance"
    return f"document.querySelector({js(section)} + ' li[data-actor={js(actor_id)}]')"


async def restarts(page: Page, instance: str | None, actor_id: str) -> str:
    found = await page.wait_for(
        f"{actor(instance, actor_id)}?.querySelector('.restarts b').textContent"
    )
    return str(found)


async def kill(page: Page, instance: str | None, actor_id: str, with_token: bool = True) -> None:
    remove = "form.querySelector('input[name=csrf_token]').remove();" if not with_token else ""
    await page.evaluate(
        f"{{ const form = {actor(instance, actor_id)}.querySelector('form.kill');"
        f"{remove} form.requestSubmit(); }}"
    )


def audit_lines(log: bytes | str) -> list[dict[str, Any]]:
    text = log.decode(errors="replace") if isinstance(log, bytes) else log
    lines = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("event") == "admin_action":
            lines.append(entry)
    return lines


async def admin_cookie(browser: Browser) -> dict[str, Any]:
    (cookie,) = [c for c in await browser.cookies() if c["name"] == "acs_admin"]
    return cookie


async def test_an_operator_finds_an_order_refunds_it_and_the_webhook_goes_out(
    tmp_path: Path,
) -> None:
    async with running_receiver(WEBHOOK_SECRET) as receiver:
        env = {"ADMIN_API_KEY": ADMIN_KEY, "WEBHOOK_URL": receiver.url}
        async with (
            in_thread(running_server(**env, WEBHOOK_SECRET=WEBHOOK_SECRET)) as server,
            chromium(tmp_path / "profile") as browser,
        ):
            order_id = await place_order(server.base_url)
            (created,) = await receiver.wait_for(1)
            assert created.body["type"] == "order_create"

            page = await browser.new_page()
            await sign_in(page, server.base_url, ADMIN_KEY, "Grace Hopper")
            listed = f"document.querySelector('#latest-orders [data-find={js(order_id)}]')"
            await page.wait_for(f"{listed} !== null")  # the latest orders list it
            await find(page, order_id)
            outcome = await refund(page, 500)
            assert f"Refund 500 on order {order_id}: ok (200)" in outcome

            deliveries = await receiver.wait_for(2)
            update = deliveries[1]
            assert update.signature_ok and update.body["type"] == "order_update"
            assert update.body["data"]["id"] == order_id
            totals = {t["type"]: t["amount"] for t in update.body["data"]["totals"]}
            assert totals["amount_refunded"] == 500
            cells = "[...document.querySelectorAll('#events td')]"
            await page.wait_for(f"{cells}.some(td => td.textContent === 'order_update')")
            cookie = (await admin_cookie(browser))["value"]
            screenshot = await page.screenshot()
            assert screenshot[:8] == b"\x89PNG\r\n\x1a\n"
            (artifacts_dir() / "admin-console.png").write_bytes(screenshot)
    lines = audit_lines(server.stderr)
    refunds = [e for e in lines if e["action"] == "refund_order"]
    assert [(e["operator"], e["via"], e["outcome"]) for e in refunds] == [
        ("Grace Hopper", "page", "ok")
    ]
    assert refunds[0]["params"] == {"amount": 500, "refund_type": "original_payment"}
    assert {"sign_in", "find_order"} <= {e["action"] for e in lines}
    for secret in (ADMIN_KEY.encode(), cookie.encode(), b"damaged in transit"):
        assert secret not in server.stderr


@pytest.mark.kills_actors
async def test_an_operator_kills_an_actor_and_a_form_without_its_token_is_refused(
    tmp_path: Path,
) -> None:
    async with (
        in_thread(running_server(ADMIN_API_KEY=ADMIN_KEY)) as server,
        chromium(tmp_path / "profile") as browser,
    ):
        session_id = await create_session(server.base_url)
        page = await browser.new_page()
        await sign_in(page, server.base_url, ADMIN_KEY, "Grace")
        await page.wait_for(f"{actor(None, session_id)} !== null")  # the live session actor
        assert await restarts(page, None, "inventory") == "0"

        await kill(page, None, "inventory")
        await page.wait_for(
            f"{actor(None, 'inventory')}?.querySelector('.restarts b').textContent === '1'"
        )
        ok = await page.wait_for("document.querySelector('#outcomes li.ok')?.textContent")
        assert "Kill inventory on " in ok and ": ok (202)" in ok
        errors = "document.querySelector('figure.chart[data-series=\"errors\"]')"
        await page.wait_for(f"Number({errors}?.dataset.max) > 0")  # the crash, charted
        assert await page.evaluate(f"{errors}.querySelectorAll('polyline').length") >= 1
        (artifacts_dir() / "admin-console-tree.png").write_bytes(await page.screenshot())

        await kill(page, None, "inventory", with_token=False)
        refused = await page.wait_for("document.querySelector('#outcomes li.refused')?.textContent")
        assert "(403) csrf_token_invalid" in refused
        async with httpx.AsyncClient(timeout=10) as http:
            state = await http.get(
                f"{server.base_url}/admin/actors/inventory",
                headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            )
        assert state.json()["restarts"] == 1  # the refused kill did nothing
    refusals = [e for e in audit_lines(server.stderr) if e["outcome"] == "refused"]
    assert [(e["action"], e["code"]) for e in refusals] == [("kill_actor", "csrf_token_invalid")]


@pytest.mark.kills_actors
async def test_the_console_over_two_instances(tmp_path: Path, own_redis: RedisServer) -> None:
    async with running_receiver(WEBHOOK_SECRET) as receiver:
        env = cluster_env(own_redis.url, LEASE_TTL, WEBHOOK_URL=receiver.url)
        env.update(WEBHOOK_SECRET=WEBHOOK_SECRET, LOG_LEVEL="info")  # the audit lines
        async with (
            in_thread(running_cluster(2, env)) as cluster,
            chromium(tmp_path / "profile") as browser,
        ):
            a, b = cluster.instances
            order_id = await place_order(b.base_url)  # its session's actor runs on b
            await receiver.wait_for(1)

            page = await browser.new_page()
            await sign_in(page, a.base_url, CLUSTER_ADMIN_KEY, "Grace")
            ids = await page.wait_for(
                "(() => { const ids = [...document.querySelectorAll('section.instance')]"
                ".map(s => s.dataset.instance); return ids.length === 2 && ids; })()"
            )
            here, there = ids  # this instance's view first
            await find(page, order_id)
            assert ": ok (200)" in await refund(page, 300)  # forwarded to b
            update = (await receiver.wait_for(2))[1]
            assert update.body["type"] == "order_update" and update.body["data"]["id"] == order_id

            await kill(page, there, "inventory")  # b's inventory, from a's page
            await page.wait_for(
                f"{actor(there, 'inventory')}?.querySelector('.restarts b').textContent === '1'"
            )
            assert await restarts(page, here, "inventory") == "0"

            signed_in = await admin_cookie(browser)
            await page.goto(f"{b.base_url}/admin/")  # the same cookie works on b
            await page.wait_for("document.querySelector('meta[name=\"csrf-token\"]') !== null")
            await page.goto(f"{a.base_url}/admin/")
            await page.wait_for("document.getElementById('sign-out') !== null")
            await page.evaluate("document.getElementById('sign-out').requestSubmit()")
            await page.wait_for("document.getElementById('key') !== null")  # signed out on a

            await browser.set_cookies([signed_in])  # the old cookie, kept somewhere
            await page.goto(f"{b.base_url}/admin/")
            await page.wait_for("document.getElementById('key') !== null")  # refused on b
            async with httpx.AsyncClient(timeout=10) as http:
                state = await http.get(
                    f"{b.base_url}/admin/ui/state", cookies={"acs_admin": signed_in["value"]}
                )
            assert state.status_code == 401
            assert a.log_path is not None  # (removed with the cluster)
            lines = audit_lines(a.log_path.read_text())
        actions = {(e["action"], e["outcome"]) for e in lines}
        assert {("refund_order", "ok"), ("kill_actor", "ok"), ("sign_out", "ok")} <= actions
        (killed,) = [e for e in lines if e["action"] == "kill_actor"]
        assert killed["params"] == {"instance": there}

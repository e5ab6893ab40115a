"""The operators' console in-process: the cookie on the JSON API with its CSRF token,
sign-out as a revocation, the audit log, the session and order routes, the holds,
the per-instance view and the peer route behind it. (In a real browser, against
real processes: test_console_chromium.py.)"""

from __future__ import annotations

import re
from http.cookies import SimpleCookie
from typing import Any

import orjson
import pytest
from structlog.testing import capture_logs

from agentic_commerce.actors.sampler import sample_once, webhook_lag
from agentic_commerce.http.admin_auth import COOKIE_NAME, CSRF_HEADER
from agentic_commerce.http.admin_instances import PEER_PATH
from agentic_commerce.http.gateway import signed_headers
from tests.admin.conftest import ADMIN_KEY, BEARER, NEW, Admin, admin_app
from tests.http.conftest import address_update, payment
from tests.waiting import eventually

CSRF_META = re.compile(r'<meta name="csrf-token" content="([0-9a-f]+)">')
INTERNAL_SECRET = "internal-secret-for-the-console-tests"


async def sign_in(admin: Admin, name: str = "Grace") -> tuple[str, str]:
    """Signs the test client in; returns its cookie's value and the page's CSRF token."""
    response = await admin.client.post("/admin/login", form={"key": ADMIN_KEY, "name": name})
    assert response.status_code == 303
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(response.headers["Set-Cookie"])
    page = await (await admin.client.get("/admin/")).get_data(as_text=True)
    found = CSRF_META.search(page)
    assert found is not None, page[:500]
    return cookie[COOKIE_NAME].value, found.group(1)


def use_cookie(admin: Admin, value: str) -> None:
    admin.client.set_cookie("localhost", COOKIE_NAME, value, path="/admin")


async def post(admin: Admin, path: str, **options: Any) -> tuple[int, Any]:
    response = await admin.client.post(path, **options)
    return response.status_code, await response.get_json()


async def order_placed(admin: Admin) -> tuple[str, str]:
    session_id = await admin.new_session(**address_update(NEW))
    done = await admin.acp.complete(session_id, payment(NEW))
    assert done.body["status"] == "completed"
    return session_id, str(done.body["order"]["id"])


async def test_every_form_on_the_page_carries_the_csrf_token() -> None:
    async with admin_app() as admin:
        _, token = await sign_in(admin)
        page = await (await admin.client.get("/admin/")).get_data(as_text=True)
        forms = re.findall(r"<form\b.*?</form>", page, re.DOTALL)
        assert len(forms) >= 3  # sign-out, find, release holds (the script adds the rest)
        for form in forms:
            assert f'<input type="hidden" name="csrf_token" value="{token}">' in form, form


async def test_with_the_cookie_reads_pass_and_changes_need_the_csrf_token() -> None:
    async with admin_app() as admin:
        cookie, token = await sign_in(admin)
        for path in ("/admin/actors", "/admin/supervisor", "/admin/instances", "/admin/orders"):
            assert (await admin.client.get(path)).status_code == 200, path
        for headers in ({}, {CSRF_HEADER: "0" * 64}, {CSRF_HEADER: token[:-1]}):
            status, error = await post(admin, "/admin/holds/release", headers=headers)
            assert status == 403 and error["code"] == "csrf_token_invalid"
        status, body = await post(admin, "/admin/holds/release", headers={CSRF_HEADER: token})
        assert status == 200 and body["settled"] == 0
        # Another sign-in's token is not this one's.
        admin.client.delete_cookie("localhost", COOKIE_NAME, path="/admin")
        _, other = await sign_in(admin, "Alan")
        assert other != token
        use_cookie(admin, cookie)
        status, _ = await post(admin, "/admin/holds/release", headers={CSRF_HEADER: other})
        assert status == 403
        # The key needs no token: scripts send no cookie.
        admin.client.delete_cookie("localhost", COOKIE_NAME, path="/admin")
        assert (await post(admin, "/admin/holds/release", headers=BEARER))[0] == 200


async def test_sign_out_revokes_the_cookie_and_needs_the_token() -> None:
    async with admin_app() as admin:
        cookie, token = await sign_in(admin)
        refused = await admin.client.post("/admin/logout", form={})
        assert refused.status_code == 403
        assert (await admin.client.get("/admin/ui/state")).status_code == 200  # still in

        response = await admin.client.post("/admin/logout", form={"csrf_token": token})
        assert response.status_code == 303 and response.headers["Location"] == "/admin/"
        assert "max-age=0" in response.headers["Set-Cookie"].lower()
        use_cookie(admin, cookie)  # the old cookie, kept by someone
        assert (await admin.client.get("/admin/ui/state")).status_code == 401
        page = await (await admin.client.get("/admin/")).get_data(as_text=True)
        assert 'action="/admin/login"' in page
        status, error = await post(admin, "/admin/holds/release", headers={CSRF_HEADER: token})
        assert status == 401 and error["code"] == "admin_sign_in_required"

        await sign_in(admin)  # a new sign-in works
        assert (await admin.client.get("/admin/ui/state")).status_code == 200


async def test_every_action_writes_one_audit_line_and_no_secret() -> None:
    async with admin_app() as admin:
        session_id, order_id = await order_placed(admin)
        with capture_logs() as logs:
            cookie, token = await sign_in(admin, "Grace")
            csrf = {CSRF_HEADER: token}
            assert (await admin.client.get(f"/admin/orders/{order_id}")).status_code == 200
            refund = {"amount": 100, "reason": "damaged"}
            assert (await post(admin, f"/admin/orders/{order_id}/refunds", json=refund))[0] == 403
            status, order = await post(
                admin, f"/admin/orders/{order_id}/refunds", json=refund, headers=csrf
            )
            assert status == 200 and order["status"] == "created"
            status, _ = await post(
                admin, f"/admin/orders/{order_id}", json={"status": "shipped"}, headers=csrf
            )
            assert status == 200
            assert (await post(admin, f"/admin/sessions/{session_id}/cancel", headers=csrf))[
                0
            ] == 405
            await admin.client.post("/admin/logout", form={"csrf_token": token})
            await admin.client.post("/admin/login", form={"key": "wrong", "name": "Mallory"})
            assert (await post(admin, "/admin/holds/release", headers=BEARER))[0] == 200
        lines = [entry for entry in logs if entry["event"] == "admin_action"]
        seen = [(entry["action"], entry["outcome"], entry["status"]) for entry in lines]
        assert seen == [
            ("sign_in", "ok", 303),
            ("find_order", "ok", 200),
            ("refund_order", "refused", 403),
            ("refund_order", "ok", 200),
            ("change_order_status", "ok", 200),
            ("cancel_session", "refused", 405),
            ("sign_out", "ok", 303),
            ("sign_in", "refused", 401),
            ("release_orphan_holds", "ok", 200),
        ]
        by_page = lines[:7]
        assert {(e["operator"], e["via"]) for e in by_page} == {("Grace", "page")}
        assert len({e["sign_in"] for e in by_page}) == 1  # one sign-in, followed through
        assert lines[2]["code"] == "csrf_token_invalid"
        assert lines[3]["target"] == {"order_id": order_id}
        assert lines[3]["params"] == {"amount": 100, "refund_type": "original_payment"}
        assert lines[4]["params"] == {"order_status": "shipped"}
        assert lines[5]["code"] == "session_not_cancelable"
        assert lines[7]["operator"] is None  # a failed sign-in is nobody yet
        assert (lines[8]["operator"], lines[8]["via"]) == ("admin-key", "key")
        written = repr(logs)
        for secret in (ADMIN_KEY, cookie, token, cookie.split(".")[0], "damaged"):
            assert secret not in written


async def test_find_and_cancel_a_session() -> None:
    async with admin_app() as admin:
        session_id = await admin.new_session(metadata={"api_key": "sk_live_should_not_show"})
        response = await admin.client.get(f"/admin/sessions/{session_id}", headers=BEARER)
        found = await response.get_json()
        assert response.status_code == 200 and found["id"] == session_id
        assert found["status"] == "not_ready_for_payment"
        assert found["internal"]["merchant_id"] and found["internal"]["store_version"] == 1
        assert "sk_live_should_not_show" not in orjson.dumps(found).decode()

        status, canceled = await post(admin, f"/admin/sessions/{session_id}/cancel", headers=BEARER)
        assert status == 200 and canceled["status"] == "canceled"
        status, error = await post(admin, f"/admin/sessions/{session_id}/cancel", headers=BEARER)
        assert status == 405 and error["code"] == "session_not_cancelable"
        for unknown in ("cs_unknown", "not%2Fan%2Fid"):
            response = await admin.client.get(f"/admin/sessions/{unknown}", headers=BEARER)
            assert response.status_code == 404


async def test_the_latest_open_sessions_and_orders() -> None:
    async with admin_app() as admin:
        first = await admin.new_session()
        second = await admin.new_session()
        paid_session, order_id = await order_placed(admin)
        response = await admin.client.get("/admin/sessions?limit=5", headers=BEARER)
        listed = [s["id"] for s in (await response.get_json())["sessions"]]
        assert listed[:2] == [second, first] or set(listed) == {first, second}
        assert paid_session not in listed
        response = await admin.client.get("/admin/orders", headers=BEARER)
        (order,) = (await response.get_json())["orders"]
        assert order["id"] == order_id and order["checkout_session_id"] == paid_session
        assert order["total"] > 0 and order["currency"] == "usd"


async def test_the_instances_view_of_one_instance_has_its_tree_and_history() -> None:
    async with admin_app() as admin:
        await sample_once(admin.system)
        await admin.new_session()
        await sample_once(admin.system)
        response = await admin.client.get("/admin/instances", headers=BEARER)
        (view,) = (await response.get_json())["instances"]
        assert view["instance"] == admin.system.ownership.instance_id and view["url"] is None
        assert view["tree"]["name"] == "root"
        series = view["history"]["series"]
        assert set(series) == {"requests", "orders", "errors", "webhook_lag"}
        assert series["webhook_lag"]["unit"] == "seconds"
        assert any(value > 0 for _, value in series["requests"]["points"])  # the create


@pytest.mark.kills_actors
async def test_kill_on_this_instance_by_name_and_on_an_unknown_one() -> None:
    async with admin_app() as admin:
        me = admin.system.ownership.instance_id
        status, body = await post(
            admin, f"/admin/actors/inventory/kill?instance={me}", headers=BEARER
        )
        assert status == 202 and body == {"id": "inventory", "instance": me, "killed": True}
        status, error = await post(
            admin, "/admin/actors/inventory/kill?instance=gone", headers=BEARER
        )
        assert status == 404 and error["message"] == "Instance not found."


@pytest.mark.kills_actors
async def test_the_peer_route_answers_signed_questions_only() -> None:
    async with admin_app(internal_secret=INTERNAL_SECRET) as admin:
        question = orjson.dumps({"op": "view"})
        response = await admin.client.post(PEER_PATH, data=question)
        assert response.status_code == 403
        headers = signed_headers("another-secret-of-the-right-length", question)
        assert (
            await admin.client.post(PEER_PATH, data=question, headers=headers)
        ).status_code == 403

        headers = signed_headers(INTERNAL_SECRET, question)
        response = await admin.client.post(PEER_PATH, data=question, headers=headers)
        view = await response.get_json()
        assert response.status_code == 200 and view["tree"]["name"] == "root"
        kill = orjson.dumps({"op": "kill", "actor": "payment"})
        response = await admin.client.post(
            PEER_PATH, data=kill, headers=signed_headers(INTERNAL_SECRET, kill)
        )
        assert response.status_code == 200 and (await response.get_json())["killed"] is True
        unknown = orjson.dumps({"op": "kill", "actor": "cs_nobody"})
        response = await admin.client.post(
            PEER_PATH, data=unknown, headers=signed_headers(INTERNAL_SECRET, unknown)
        )
        assert response.status_code == 404


async def test_the_webhook_lag_is_the_age_of_the_oldest_waiting_event() -> None:
    async with admin_app() as admin:  # no webhook receiver: events wait
        assert await webhook_lag(admin.system) == 0.0
        await order_placed(admin)
        assert 0.0 < await webhook_lag(admin.system) < 60.0


@pytest.mark.kills_actors
async def test_a_cart_actor_shows_in_the_tree_and_can_be_killed() -> None:
    async with admin_app() as admin:
        body = {"line_items": [{"id": "item_123", "quantity": 1}]}
        headers = admin.acp.headers(method="POST")
        created = await admin.client.post("/carts", json=body, headers=headers)
        assert created.status_code == 201
        cart_id = (await created.get_json())["id"]

        async def cart_restarts() -> int | None:
            _, tree = await admin.get("/admin/supervisor")
            carts = {c["id"]: c["restarts"] for c in tree["children"][2]["children"]}
            return carts.get(cart_id)

        assert await cart_restarts() == 0
        status, _ = await post(admin, f"/admin/actors/{cart_id}/kill", headers=BEARER)
        assert status == 202
        await eventually(lambda: cart_restarts())
        assert await cart_restarts() == 1

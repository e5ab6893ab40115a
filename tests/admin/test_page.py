"""The admin page in-process: sign-in form, cookie, state route, assets, headers.
(The console's actions, CSRF, audit and sign-out: test_console.py.)"""

from __future__ import annotations

import re
from http.cookies import SimpleCookie
from typing import Any

import pytest

from agentic_commerce.http.admin_auth import COOKIE_NAME, AdminGuard, PageCookie
from agentic_commerce.http.admin_ui import ASSET_TYPES
from tests.admin.conftest import ADMIN_KEY, BEARER, Admin, admin_app


async def sign_in(admin: Admin, key: str = ADMIN_KEY) -> Any:
    return await admin.client.post("/admin/login", form={"key": key})


def set_cookie(response: Any) -> SimpleCookie:
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(response.headers.get("Set-Cookie", ""))
    return cookie


async def test_the_page_without_a_cookie_is_the_sign_in_form() -> None:
    async with admin_app() as admin:
        response = await admin.client.get("/admin/")
        assert response.status_code == 200
        assert response.content_type.startswith("text/html")
        html = await response.get_data(as_text=True)
        assert 'action="/admin/login"' in html and 'type="password"' in html
        assert "app.js" not in html and "Sign-in failed" not in html


async def test_a_wrong_key_gets_the_form_again_and_no_cookie() -> None:
    async with admin_app() as admin:
        response = await sign_in(admin, "not_the_key")
        assert response.status_code == 401
        assert "Set-Cookie" not in response.headers
        html = await response.get_data(as_text=True)
        assert "Sign-in failed." in html and 'action="/admin/login"' in html
        assert "not_the_key" not in html
        assert (await admin.client.get("/admin/ui/state")).status_code == 401


async def test_the_right_key_sets_a_strict_http_only_cookie_that_is_not_the_key() -> None:
    async with admin_app() as admin:
        response = await sign_in(admin)
        assert response.status_code == 303 and response.headers["Location"] == "/admin/"
        header = response.headers["Set-Cookie"]
        assert ADMIN_KEY not in header
        attributes = {part.strip().split("=")[0].lower() for part in header.split(";")}
        assert {"httponly", "samesite", "path", "max-age"} <= attributes
        assert "secure" not in attributes  # plain http in development
        morsel = set_cookie(response)[COOKIE_NAME]
        assert morsel["samesite"] == "Strict" and morsel["path"] == "/admin"
        assert morsel.value and morsel.value != ADMIN_KEY

        page = await admin.client.get("/admin/")
        html = await page.get_data(as_text=True)
        assert page.status_code == 200 and '<script type="module" src="/admin/ui/app.js"' in html


async def test_the_cookie_is_secure_in_production() -> None:
    async with admin_app(app_env="production") as admin:
        response = await sign_in(admin)
        assert response.status_code == 303
        assert "secure" in response.headers["Set-Cookie"].lower()


async def test_the_state_route_accepts_the_cookie_or_the_key() -> None:
    async with admin_app() as admin:
        assert (await admin.client.get("/admin/ui/state")).status_code == 401
        assert (await admin.client.get("/admin/ui/state", headers=BEARER)).status_code == 200
        await sign_in(admin)
        response = await admin.client.get("/admin/ui/state")
        assert response.status_code == 200
        state = await response.get_json()
        assert state["instance"] == admin.system.ownership.instance_id
        assert set(state["outbox"]) == {"counts", "events"}
        assert state["latest"] == {"sessions": [], "orders": []}
        base = "http://localhost"  # the test client's host (no PUBLIC_URL)
        assert state["endpoints"] == [
            {"transport": "rest", "url": base},
            {"transport": "mcp", "url": f"{base}/mcp"},
        ]
        page = await (await admin.client.get("/admin/")).get_data(as_text=True)
        assert '<table id="endpoints">' in page


async def test_a_forged_cookie_is_refused() -> None:
    async with admin_app() as admin:

        async def state_with(value: str) -> int:
            admin.client.set_cookie("localhost", COOKIE_NAME, value, path="/admin")
            return int((await admin.client.get("/admin/ui/state")).status_code)

        for value in (ADMIN_KEY, "9999999999.00", "", "garbage", "a.9999999999.b3A.00"):
            assert await state_with(value) == 401
        assert await state_with(PageCookie(AdminGuard(ADMIN_KEY)).issue()) == 200


async def test_pages_have_a_strict_content_security_policy_and_no_inline_code() -> None:
    async with admin_app() as admin:
        await sign_in(admin)
        for _ in range(2):  # the dashboard, then (signed out) the form
            response = await admin.client.get("/admin/")
            policy = response.headers["Content-Security-Policy"]
            assert "default-src 'none'" in policy and "script-src 'self'" in policy
            assert "unsafe" not in policy and "http" not in policy
            assert response.headers["X-Frame-Options"] == "DENY"
            html = await response.get_data(as_text=True)
            assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline script"
            assert not re.search(r"\sstyle=|<style|\son[a-z]+=", html), "inline style or handler"
            assets = re.findall(r'(?:src|href|action)="([^"]*)"', html)
            assert assets and all(a.startswith("/admin/") for a in assets), assets
            admin.client.delete_cookie("localhost", COOKIE_NAME, path="/admin")


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("app.js", "text/javascript"), ("admin.css", "text/css")],
)
async def test_assets_are_served_without_any_key(name: str, content_type: str) -> None:
    async with admin_app() as admin:
        response = await admin.client.get(f"/admin/ui/{name}")
        assert response.status_code == 200
        assert response.content_type.startswith(content_type)
        assert (await admin.client.get("/admin/ui/secrets.txt")).status_code == 401


@pytest.mark.parametrize(
    "name", ["app.js", "actions.js", "charts.js", "dom.js", "found.js", "tree.js"]
)
async def test_the_scripts_render_data_as_text_only(name: str) -> None:
    async with admin_app() as admin:
        response = await admin.client.get(f"/admin/ui/{name}")
        assert response.status_code == 200
        script = await response.get_data(as_text=True)
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in script
        for loaded in re.findall(r'from "([^"]+)"', script):  # modules beside it, no CDN
            assert loaded.startswith("./") and loaded[2:] in ASSET_TYPES


def test_page_cookie_expires_and_is_bound_to_the_key() -> None:
    now = [1_000_000.0]
    cookie = PageCookie(AdminGuard("key_one"), lifetime=60, now=lambda: now[0])
    value = cookie.issue("Ada Lovelace")
    signed = cookie.read(value)
    assert signed is not None and signed.name == "Ada Lovelace" and "key_one" not in value
    assert signed.expires == 1_000_060 and cookie.read(cookie.issue()) != signed  # ids differ
    sign_in_id, expires, name, mac = value.split(".")
    assert not cookie.read(f"{sign_in_id}.{int(expires) + 1}.{name}.{mac}")  # the expiry is signed
    assert not cookie.read(f"{sign_in_id}.{expires}.{name}A.{mac}")  # so is the name
    assert not PageCookie(AdminGuard("key_two"), now=lambda: now[0]).read(value)
    for garbage in (None, "", ".", "abc.def", "²³.00", f"a.{'9' * 40}.b.{mac}"):
        assert not cookie.read(garbage)
    now[0] += 61
    assert not cookie.read(value)


def test_the_csrf_token_is_bound_to_the_sign_in_and_the_key() -> None:
    cookie = PageCookie(AdminGuard("key_one"))
    first, second = cookie.read(cookie.issue()), cookie.read(cookie.issue())
    assert first is not None and second is not None
    token = cookie.csrf_token(first)
    assert cookie.csrf_ok(first, token) and not cookie.csrf_ok(second, token)
    assert not cookie.csrf_ok(first, None) and not cookie.csrf_ok(first, "")
    assert not PageCookie(AdminGuard("key_two")).csrf_ok(first, token)

"""The admin page: the operators' console (find, act, see the outcome; the
supervision tree of every instance and the charts of the last minutes, live).

People sign in with the admin key through a form; the answer is an HttpOnly,
SameSite=Strict cookie (`admin_auth.PageCookie`, never the key). The page is
static HTML and scripts: its script reads `/admin/ui/state` and the admin JSON API
(`admin.py`) with that cookie, and sends every change there with the CSRF token the
page carries (each form holds it). Sign-out revokes the cookie in the store, so
no instance accepts it again. Wrong keys in the form count against the address
(`throttle.py`): past the limit the form answers 429 with `Retry-After` without
looking at the key. Static files are served from memory with a strict
Content-Security-Policy (scripts and styles from 'self' only): the page works
offline, with no CDN.
"""

from __future__ import annotations

import html
import importlib.resources
from string import Template
from typing import Any

from quart import Quart, Response, request

from agentic_commerce.actors.system import ActorSystem
from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.http.admin_audit import audited
from agentic_commerce.http.admin_auth import (
    COOKIE_NAME,
    COOKIE_PATH,
    CSRF_FIELD,
    AdminAuth,
    AdminGuard,
    Operator,
    operator_name,
    set_operator,
)
from agentic_commerce.http.admin_sessions import latest_orders, latest_sessions
from agentic_commerce.http.admin_views import event_json
from agentic_commerce.http.mcp.endpoint import MCP_PATH
from agentic_commerce.http.responses import json_response
from agentic_commerce.http.service_routes import base_url
from agentic_commerce.http.throttle import AuthThrottle, AuthThrottled
from agentic_commerce.protocol.base import timestamp

HTML_TYPE = "text/html; charset=utf-8"
SCRIPT_TYPE = "text/javascript; charset=utf-8"
ASSET_TYPES = {
    "app.js": SCRIPT_TYPE,
    "actions.js": SCRIPT_TYPE,
    "charts.js": SCRIPT_TYPE,
    "dom.js": SCRIPT_TYPE,
    "found.js": SCRIPT_TYPE,
    "tree.js": SCRIPT_TYPE,
    "admin.css": "text/css; charset=utf-8",
}
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
LOGIN_FAILED = '<p class="error" role="alert">Sign-in failed.</p>'
LOGIN_THROTTLED = (
    '<p class="error" role="alert">Too many failed sign-ins from this address; try again later.</p>'
)
SIGN_OUT_REFUSED = (
    "<!doctype html><title>Sign-out refused</title>"
    '<p role="alert">Sign-out refused: the form had no valid CSRF token. '
    '<a href="/admin/">Back to the console</a>.</p>'
)
LATEST_SHOWN = 20


def static_file(name: str) -> bytes:
    return (importlib.resources.files(__package__) / "static" / name).read_bytes()


def page(body: str | bytes, status: int = 200) -> Response:
    return Response(body, status=status, content_type=HTML_TYPE, headers=PAGE_HEADERS)


async def dashboard_state(system: ActorSystem, base: str) -> dict[str, Any]:
    """What the page shows besides the instances: the API endpoints (the MCP one is
    given to agents out of band), the outbox counts and newest events, the latest
    sessions and orders."""
    store = system.store
    events = await store.list_events(None, limit=LATEST_SHOWN, newest_first=True)
    return {
        "generated_at": timestamp(system.clock.now()),
        "instance": system.ownership.instance_id,
        "endpoints": [
            {"transport": "rest", "url": base},
            {"transport": "mcp", "url": base + MCP_PATH},
        ],
        "outbox": {
            "counts": await store.outbox_counts(),
            "events": [event_json(e) for e in events],
        },
        "latest": {
            "sessions": await latest_sessions(system, LATEST_SHOWN),
            "orders": await latest_orders(system, LATEST_SHOWN),
        },
    }


def register_admin_ui(
    app: Quart, system: ActorSystem, guard: AdminGuard, throttle: AuthThrottle
) -> None:
    auth = AdminAuth(guard, system.store, throttle)
    login = Template(static_file("login.html").decode())
    dashboard = Template(static_file("dashboard.html").decode())
    assets = {name: static_file(name) for name in ASSET_TYPES}
    page_paths = {"/admin", "/admin/", "/admin/login", "/admin/logout"}
    guard.open_paths.update(page_paths | {f"/admin/ui/{name}" for name in assets})
    secure_only = system.settings.production

    def back_to_page() -> Response:
        return Response("", status=303, headers={"Location": "/admin/"})

    @app.get("/admin/")
    async def admin_page() -> Response:
        sign_in = await auth.signed_in()
        if sign_in is None:
            return page(login.substitute(error=""))
        token = auth.cookie.csrf_token(sign_in)
        return page(dashboard.substitute(csrf=token, operator=html.escape(sign_in.name)))

    @app.get("/admin/login")
    async def sign_in_form() -> Response:
        """A typed or reloaded sign-in address: the form lives on the page itself."""
        return back_to_page()

    @app.post("/admin/login")
    @audited("sign_in")
    async def sign_in() -> Response:
        try:
            client = throttle.admit()  # a guesser waits before its key is looked at
        except AuthThrottled as throttled:
            response = page(login.substitute(error=LOGIN_THROTTLED), status=429)
            response.headers["Retry-After"] = str(throttled.retry_after)
            return response
        form = await request.form
        if not guard.matches(form.get("key", "")):
            await throttle.failed(client)
            return page(login.substitute(error=LOGIN_FAILED), status=401)
        value = auth.cookie.issue(operator_name(form.get("name", "")))
        signed = auth.cookie.read(value)
        assert signed is not None
        set_operator(Operator(signed.name, "page", signed.handle))
        response = back_to_page()
        response.set_cookie(
            COOKIE_NAME,
            value,
            max_age=auth.cookie.lifetime,
            path=COOKIE_PATH,
            secure=secure_only or request.scheme == "https",
            httponly=True,
            samesite="Strict",
        )
        return response

    @app.post("/admin/logout")
    @audited("sign_out")
    async def sign_out() -> Response:
        """Revokes the sign-in on every instance (the store keeps the revocation).
        Needs the cookie, which a cross-site form never carries (SameSite=Strict),
        and the form's CSRF token."""
        sign_in = await auth.signed_in()
        if sign_in is None:
            return back_to_page()
        set_operator(Operator(sign_in.name, "page", sign_in.handle))
        form = await request.form
        if not auth.cookie.csrf_ok(sign_in, form.get(CSRF_FIELD)):
            return page(SIGN_OUT_REFUSED, status=403)
        await auth.sign_out(sign_in)
        response = back_to_page()
        response.delete_cookie(COOKIE_NAME, path=COOKIE_PATH, httponly=True, samesite="Strict")
        return response

    @app.get("/admin/ui/<name>")
    async def asset(name: str) -> Response:
        if name not in assets:
            raise RequestRejected("not_found", "Not found.", None, status=404)
        return Response(assets[name], content_type=ASSET_TYPES[name])

    @app.get("/admin/ui/state")
    async def page_state() -> Response:
        return json_response(await dashboard_state(system, base_url(system)))

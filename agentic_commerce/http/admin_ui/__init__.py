"""The admin page: a read-only HTML view of the API endpoints (REST and MCP), the live
actors and the webhook outbox.

People sign in with the admin key through a form; the answer is an HttpOnly,
SameSite=Strict cookie (`PageCookie`, never the key). The page's script polls
`/admin/ui/state`, the only data route that accepts the cookie; the JSON API in
`admin.py` keeps asking for the Bearer header. Wrong keys in the form count against
the address (`throttle.py`): past the limit the form answers 429 with `Retry-After`
without looking at the key. Static files are served from memory with a strict
Content-Security-Policy (scripts and styles from 'self' only).
"""

from __future__ import annotations

import importlib.resources
from string import Template
from typing import Any

from quart import Quart, Response, request

from agentic_commerce.actors.system import ActorSystem
from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.http.admin import AdminGuard, actor_json, event_json
from agentic_commerce.http.admin_ui.cookie import COOKIE_NAME, COOKIE_PATH, PageCookie
from agentic_commerce.http.mcp.endpoint import MCP_PATH
from agentic_commerce.http.responses import json_response
from agentic_commerce.http.service_routes import base_url
from agentic_commerce.http.throttle import AuthThrottle, AuthThrottled
from agentic_commerce.protocol.base import timestamp

HTML_TYPE = "text/html; charset=utf-8"
ASSET_TYPES = {
    "app.js": "text/javascript; charset=utf-8",
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
MAX_ACTORS_SHOWN = 500
RECENT_EVENTS = 20
EVENT_SCAN = 1000  # the store lists oldest first: the newest are picked from this many


def static_file(name: str) -> bytes:
    return (importlib.resources.files(__package__) / "static" / name).read_bytes()


def page(body: str | bytes, status: int = 200) -> Response:
    return Response(body, status=status, content_type=HTML_TYPE, headers=PAGE_HEADERS)


async def dashboard_state(system: ActorSystem, base: str) -> dict[str, Any]:
    """What the page shows: the API endpoints (the MCP one is given to agents out of
    band), the live actors (capped), outbox counts, the newest events."""
    infos = system.actors()
    events = await system.store.list_events(None, limit=EVENT_SCAN)
    newest = sorted(events, key=lambda e: e.created_at, reverse=True)[:RECENT_EVENTS]
    return {
        "generated_at": timestamp(system.clock.now()),
        "endpoints": [
            {"transport": "rest", "url": base},
            {"transport": "mcp", "url": base + MCP_PATH},
        ],
        "actors": {
            "total": len(infos),
            "items": [actor_json(i) for i in infos[:MAX_ACTORS_SHOWN]],
        },
        "outbox": {
            "counts": await system.store.outbox_counts(),
            "events": [event_json(e) for e in newest],
        },
    }


def register_admin_ui(
    app: Quart, system: ActorSystem, guard: AdminGuard, throttle: AuthThrottle
) -> None:
    cookie = PageCookie(guard)
    login = Template(static_file("login.html").decode())
    dashboard = static_file("dashboard.html")
    assets = {name: static_file(name) for name in ASSET_TYPES}
    page_paths = {"/admin", "/admin/", "/admin/login", "/admin/logout", "/admin/ui/state"}
    guard.open_paths.update(page_paths | {f"/admin/ui/{name}" for name in assets})
    secure_only = system.settings.production

    def signed_in() -> bool:
        return cookie.valid(request.cookies.get(COOKIE_NAME))

    def back_to_page() -> Response:
        return Response("", status=303, headers={"Location": "/admin/"})

    @app.get("/admin/")
    async def admin_page() -> Response:
        return page(dashboard) if signed_in() else page(login.substitute(error=""))

    @app.get("/admin/login")
    async def sign_in_form() -> Response:
        """A typed or reloaded sign-in address: the form lives on the page itself."""
        return back_to_page()

    @app.post("/admin/login")
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
        response = back_to_page()
        response.set_cookie(
            COOKIE_NAME,
            cookie.issue(),
            max_age=cookie.lifetime,
            path=COOKIE_PATH,
            secure=secure_only or request.scheme == "https",
            httponly=True,
            samesite="Strict",
        )
        return response

    @app.post("/admin/logout")
    async def sign_out() -> Response:
        """Needs the cookie, which a cross-site form never carries (SameSite=Strict)."""
        response = back_to_page()
        if signed_in():
            response.delete_cookie(COOKIE_NAME, path=COOKIE_PATH, httponly=True, samesite="Strict")
        return response

    @app.get("/admin/ui/<name>")
    async def asset(name: str) -> Response:
        if name not in assets:
            raise RequestRejected("not_found", "Not found.", None, status=404)
        return Response(assets[name], content_type=ASSET_TYPES[name])

    @app.get("/admin/ui/state")
    async def page_state() -> Response:
        if not signed_in():
            raise RequestRejected("admin_sign_in_required", "Sign in on /admin/.", None, status=401)
        return json_response(await dashboard_state(system, base_url(system)))

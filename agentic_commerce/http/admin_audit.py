"""The audit log of the operators' console: one `admin_action` line per action.

Each line says who (the operator's name and how they authenticated: `key` or
`page`, the sign-in's short handle, the client address), what (the action, its
target, a few parameters such as a refund's amount) and the outcome (`ok`,
`refused` or `failed`, the HTTP status and a refusal's code). It is written after
the answer, whatever it was, refusals before authentication included (a missing
CSRF token, an unknown cookie). Never a key, cookie, token or request body.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import orjson
import structlog
from quart import Quart, Response, g, request

from agentic_commerce.http.admin_auth import current_operator
from agentic_commerce.http.throttle import AuthThrottle

View = TypeVar("View", bound=Callable[..., Any])

log = structlog.get_logger("agentic_commerce.audit")
ACTION_ATTRIBUTE = "admin_action"


def audited(action: str) -> Callable[[View], View]:
    """Mark a view as an operator's action (decorator, below the route's)."""

    def mark(view: View) -> View:
        setattr(view, ACTION_ATTRIBUTE, action)
        return view

    return mark


def audit_detail(**details: Any) -> None:
    """Parameters of the current action worth a line (amounts, statuses: no secrets)."""
    g.audit_details = {**g.get("audit_details", {}), **details}


def outcome_of(status: int) -> str:
    return "ok" if status < 400 else "refused" if status < 500 else "failed"


async def refusal_code(response: Response) -> str | None:
    if response.status_code < 400 or response.mimetype != "application/json":
        return None
    try:
        body = orjson.loads(await response.get_data())
    except orjson.JSONDecodeError:
        return None
    return body.get("code") if isinstance(body, dict) else None


def register_audit(app: Quart, throttle: AuthThrottle) -> None:
    @app.after_request
    async def audit(response: Response) -> Response:
        view = app.view_functions.get(request.endpoint or "")
        action = getattr(view, ACTION_ATTRIBUTE, None)
        if action is None:
            return response
        operator = current_operator()
        log.info(
            "admin_action",
            action=action,
            operator=operator.name if operator else None,
            via=operator.via if operator else None,
            sign_in=operator.sign_in if operator else None,
            client=throttle.address(),
            target=dict(request.view_args or {}) or None,
            outcome=outcome_of(response.status_code),
            status=response.status_code,
            code=await refusal_code(response),
            params=g.get("audit_details"),
        )
        return response

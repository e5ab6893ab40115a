"""The quart-trio application: routes turn requests into actor messages."""

from __future__ import annotations

from typing import Any

from quart import Response
from quart_trio import QuartTrio

from agentic_commerce.actors.system import ActorSystem
from agentic_commerce.http.responses import json_response


def create_app(system: ActorSystem) -> QuartTrio:
    app = QuartTrio("agentic_commerce")
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    app.extensions["acs_system"] = system

    @app.get("/health")
    async def health() -> Response:
        """Liveness: the process serves requests."""
        return json_response({"status": "ok"})

    @app.get("/ready")
    async def ready() -> Response:
        """Readiness: the actor system runs and its store answers."""
        checks: dict[str, Any] = {
            "actors": system.sessions.running,
            "store": await system.store.ping(),
        }
        ok = all(checks.values())
        return json_response(
            {"status": "ready" if ok else "unavailable", "checks": checks},
            status=200 if ok else 503,
        )

    return app

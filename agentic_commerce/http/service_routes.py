"""Routes for operators and discovery, outside the ACP API: no key, never rate limited.

- `/health`: liveness, the process and its supervision tree run;
- `/ready`: readiness, the store answers, no supervisor is escalating, not draining;
- `/metrics`: Prometheus exposition;
- `/.well-known/acp.json`: the 2026-04-17 discovery document (cacheable; no merchant ids;
  `transports`: REST and MCP, whose endpoint is `/mcp`).
"""

from __future__ import annotations

from typing import Any

from quart import Quart, Response, request

from agentic_commerce import metrics
from agentic_commerce.actors.system import ActorSystem
from agentic_commerce.http.responses import json_response
from agentic_commerce.protocol.base import Storefront
from agentic_commerce.protocol.discounts import discovered
from agentic_commerce.protocol.versions import NEWEST, Versions


def base_url(system: ActorSystem) -> str:
    """The server's public URL: `PUBLIC_URL`, else the current request's host."""
    return system.settings.public_url or request.host_url.rstrip("/")


def register_service_routes(
    app: Quart, system: ActorSystem, storefront: Storefront, versions: Versions
) -> None:
    @app.get("/health")
    async def health() -> Response:
        ok = system.running
        return json_response({"status": "ok" if ok else "down"}, status=200 if ok else 503)

    @app.get("/ready")
    async def ready() -> Response:
        checks: dict[str, Any] = {
            "actors": system.running and system.sessions.running,
            "store": await system.store.ping(),
            "not_escalating": not system.escalating(),
            "not_draining": not system.draining,
        }
        ok = all(checks.values())
        body = {"status": "ready" if ok else "unavailable", "checks": checks}
        return json_response(body, status=200 if ok else 503)

    @app.get("/metrics")
    async def scrape() -> Response:
        return Response(metrics.exposition(), content_type=metrics.CONTENT_TYPE)

    @app.get("/.well-known/acp.json")
    async def discovery() -> Response:
        services = ["checkout", "orders", "carts"]
        if system.settings.vault_enabled:
            services.append("delegate_payment")
        body = {
            "protocol": {
                "name": "acp",
                "version": NEWEST,
                "supported_versions": versions.oldest_first,
            },
            "api_base_url": base_url(system),
            "transports": list(metrics.TRANSPORTS),  # the MCP endpoint URL: out of band
            "capabilities": {
                "services": services,
                "extensions": discovered(system.catalog.extensions),
                "intervention_types": ["3ds"],
                "supported_currencies": [system.catalog.currency],
            },
        }
        headers = {"Cache-Control": "public, max-age=3600"}
        return json_response(body, headers=headers)

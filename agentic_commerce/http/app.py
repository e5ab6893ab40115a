"""The quart-trio application: routes turn requests into actor messages."""

from __future__ import annotations

import contextlib
import functools
import secrets
import time

import structlog
from hypercorn.typing import ASGIFramework
from prometheus_client import Counter, Histogram
from quart import Response, g, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from agentic_commerce import metrics
from agentic_commerce.actors.session import store_unavailable
from agentic_commerce.actors.system import ActorSystem
from agentic_commerce.config.settings import Settings
from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.domain.rate_limit import Limit
from agentic_commerce.http.admin import register_admin
from agentic_commerce.http.admin_auth import AdminGuard
from agentic_commerce.http.admin_ui import register_admin_ui
from agentic_commerce.http.auth import ApiKeys
from agentic_commerce.http.carts import register_carts
from agentic_commerce.http.checkout import Checkout, register_checkout
from agentic_commerce.http.connection import HTTPConnection
from agentic_commerce.http.context import Gate, current_admission, rate_limit_headers
from agentic_commerce.http.delegate_authentication import (
    Authentications,
    register_delegate_authentication,
)
from agentic_commerce.http.delegate_payment import Vault, register_delegate_payment
from agentic_commerce.http.errors import error_response, http_refusal, internal_error
from agentic_commerce.http.feeds import register_feeds
from agentic_commerce.http.gateway import SessionGateway, register_internal
from agentic_commerce.http.idempotency import Idempotency
from agentic_commerce.http.mcp.endpoint import McpEndpoint, Mounted, mcp_manager
from agentic_commerce.http.mcp.tools import CheckoutTools
from agentic_commerce.http.request_ids import request_id as given_or_new_id
from agentic_commerce.http.service_routes import register_service_routes
from agentic_commerce.http.signatures import Signatures
from agentic_commerce.http.throttle import AuthThrottle
from agentic_commerce.http.tracing import UNMATCHED, describe_request, server_spans
from agentic_commerce.protocol.base import Codec
from agentic_commerce.store.base import StoreUnavailable

log = structlog.get_logger("agentic_commerce.http")
MAX_BODY_BYTES = 1024 * 1024
CHECKOUT_ROUTES = {  # (route, method) -> the checkout operation (MCP counts its tools alike)
    ("/checkout_sessions", "POST"): "create",
    ("/checkout_sessions/<session_id>", "GET"): "get",
    ("/checkout_sessions/<session_id>", "POST"): "update",
    ("/checkout_sessions/<session_id>/complete", "POST"): "complete",
    ("/checkout_sessions/<session_id>/cancel", "POST"): "cancel",
}


@functools.lru_cache(maxsize=1024)
def _request_series(route: str, method: str, status: int) -> tuple[list[Counter], Histogram]:
    """Metric children per (route, method, status): label lookups off the hot path."""
    counters = [metrics.HTTP_REQUESTS.labels(route, method, str(status))]
    operation = CHECKOUT_ROUTES.get((route, method))
    if operation is not None:
        outcome = metrics.outcome_of(status)
        counters.append(metrics.CHECKOUT_CALLS.labels(operation, "rest", outcome))
    return counters, metrics.HTTP_DURATION.labels(route)


def observe(status: int) -> None:
    """One metric sample and one log line per request."""
    route = request.url_rule.rule if request.url_rule is not None else UNMATCHED
    seconds = time.perf_counter() - g.get("started", time.perf_counter())
    counters, histogram = _request_series(route, metrics.method_label(request.method), status)
    for counter in counters:
        counter.inc()
    histogram.observe(seconds)
    session_id = (request.view_args or {}).get("session_id")
    request_id = g.get("request_id", "")
    describe_request(request.method, route, request_id, status)
    log.info(
        "request",
        transport="rest",
        request_id=request_id,
        merchant=current_admission().merchant,
        method=request.method,
        route=route,
        status=status,
        duration_ms=round(seconds * 1000, 2),
        **({"session_id": session_id} if session_id else {}),
    )


ECHOED_HEADERS = ("Idempotency-Key",)


def create_app(system: ActorSystem) -> QuartTrio:
    settings = system.settings
    app = QuartTrio("agentic_commerce")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config["BODY_TIMEOUT"] = settings.body_timeout_seconds  # from the request head on
    app.asgi_http_class = HTTPConnection  # lets hypercorn close connections (see there)
    app.extensions["acs_system"] = system
    storefront, versions = system.storefront, system.versions
    idempotency = Idempotency(
        system.store,
        ttl_seconds=settings.idempotency_ttl_seconds,
        claims=system.claims,
    )
    signatures = Signatures(
        system.store,
        settings.signature_secret,
        settings.merchant_signature_secrets,
        settings.signature_tolerance_seconds,
    )
    limit = Limit(settings.rate_limit_per_minute, settings.rate_limit_burst)
    per_minute = settings.auth_failures_per_minute
    throttle = AuthThrottle(
        system.rate_limits, Limit(per_minute, per_minute), settings.trusted_proxies
    )
    gate = Gate(
        ApiKeys(settings.api_keys),
        versions,
        idempotency,
        signatures,
        system.rate_limits,
        limit,
        system.clock,
        throttle,
    )

    @app.before_request
    async def request_id() -> None:
        g.started = time.perf_counter()
        g.request_id = given_or_new_id(request.headers.get("Request-Id"))

    @app.after_request
    async def common_headers(response: Response) -> Response:
        if request.method != "GET":
            # Receive the whole body before answering, even when refusing early (401,
            # 429, 503): hypercorn closes a connection whose request body it has not
            # fully received, so the client's next keep-alive request would fail.
            with contextlib.suppress(HTTPException):  # 413, 408 or gone: already answered
                await request.body
        observe(response.status_code)
        response.headers["Request-Id"] = g.get("request_id", "")
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers["X-Content-Type-Options"] = "nosniff"
        decision = current_admission().rate_limit
        if decision is not None:
            response.headers.update(rate_limit_headers(decision))
        for name in ECHOED_HEADERS:
            value = request.headers.get(name)
            if value is not None:
                response.headers[name] = value
        return response

    def codec() -> Codec:
        """The version errors are rendered in: the request's, once the gate read it."""
        return current_admission().codec or versions.newest

    @app.errorhandler(RequestRejected)
    async def rejected(error: RequestRejected) -> Response:
        return error_response(error, codec(), versions)

    @app.errorhandler(StoreUnavailable)
    async def store_down(error: StoreUnavailable) -> Response:
        """The store did not answer in time (any route): retryable, never a 500."""
        log.warning("store_unavailable", request_id=g.get("request_id", ""))
        return error_response(store_unavailable(), codec(), versions)

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        response = error_response(http_refusal(status, error.name), codec(), versions)
        if status == 408:  # the rest of the body is never read: this connection ends
            response.headers["Connection"] = "close"
        return response

    @app.errorhandler(Exception)
    async def unexpected(error: Exception) -> Response:
        """A bug: logged with the request id, answered without any internal detail."""
        request_id = g.get("request_id", "")
        log.error(
            "unhandled_error", request_id=request_id, error=type(error).__name__, exc_info=error
        )
        return error_response(internal_error(request_id), codec(), versions)

    gateway = SessionGateway(system, system.ownership, versions, settings.internal_secret)
    app.extensions["acs_gateway"] = gateway
    checkout = Checkout(system, gate, gateway)
    tools = CheckoutTools(gate, checkout, versions)
    app.extensions["acs_mcp"] = McpEndpoint(
        gate, mcp_manager(tools, MAX_BODY_BYTES), MAX_BODY_BYTES, settings.body_timeout_seconds
    )
    register_service_routes(app, system, storefront, versions)
    register_checkout(app, gate, checkout)
    register_carts(app, system, gate)
    register_feeds(app, system, gate)
    register_internal(app, gateway)
    admin_guard = AdminGuard(settings.admin_api_key)
    register_admin(app, system, admin_guard, storefront, gateway, throttle)
    register_admin_ui(app, system, admin_guard, throttle)
    if settings.vault_enabled:  # the sandbox PSP: vault and 3-D Secure provider
        secret = vault_secret(settings)
        vault = Vault(system.store, settings, system.clock, secret)
        register_delegate_payment(app, vault, gate)
        authentications = Authentications(system.store, settings, system.clock, secret)
        register_delegate_authentication(app, authentications, gate)
    return app


def with_mcp(app: QuartTrio) -> ASGIFramework:
    """What hypercorn serves: the app with the MCP endpoint beside it (`/mcp`), each
    request in a server span when tracing is on."""
    endpoint = app.extensions["acs_mcp"]
    assert isinstance(endpoint, McpEndpoint)
    return server_spans(Mounted(app, endpoint))


def vault_secret(settings: Settings) -> bytes:
    """The key of card fingerprints; a random one (fingerprints then differ per run)
    with a warning when `VAULT_SECRET` is unset."""
    if settings.vault_secret:
        return settings.vault_secret.encode()
    log.warning("vault_secret_unset", detail="VAULT_SECRET unset: using a random key")
    return secrets.token_bytes(32)

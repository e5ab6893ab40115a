"""Prometheus metrics: every family the server exports, in one place.

Labels are bounded by construction: route templates (never a path with an id),
kinds, outcomes, transports (`rest`, `mcp`), currencies and products from the
catalog; never a session id, key or token. With `PROMETHEUS_MULTIPROC_DIR` set
(several worker processes), prometheus-client keeps values in files that any
worker's scrape aggregates; its collector only emits families that have samples,
so `initialise` creates the known label sets at start.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

# A `_created` series per labelled child doubles the series, for a time nobody graphs.
disable_created_metrics()  # type: ignore[no-untyped-call]
CONTENT_TYPE = CONTENT_TYPE_LATEST
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"})
SESSION_EVENTS = ("created", "updated", "completed", "canceled", "expired")
ACTOR_KINDS = (
    "session",
    "inventory",
    "payment",
    "webhooks",
    "expiry",
    "metrics",
    "ownership",
    "rate_limits",
    "supervisor",
)
IDEMPOTENCY_RESULTS = ("stored", "replayed", "conflict", "in_flight")
AUTH_REASONS = (
    "missing_api_key",
    "invalid_api_key",
    "invalid_signature",
    "signature_expired",
    "signature_replayed",
)
PAYMENT_OUTCOMES = (
    "charged",
    "declined",
    "authentication_required",
    "authentication_refused",
    "unavailable",
)
WEBHOOK_OUTCOMES = ("delivered", "pending", "dead")
CHECKOUT_OPERATIONS = ("create", "get", "update", "complete", "cancel")
TRANSPORTS = ("rest", "mcp")
OPERATION_OUTCOMES = ("ok", "refused", "failed")  # answered; refused (4xx); failed (5xx)
WEBHOOK_EVENTS = ("order_create", "order_update")

HTTP_REQUESTS = Counter(
    "acs_http_requests", "HTTP requests answered.", ["route", "method", "status"]
)
HTTP_DURATION = Histogram(
    "acs_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CHECKOUT_CALLS = Counter(
    "acs_checkout_operations",
    "Checkout operations answered, per transport (rest, mcp).",
    ["operation", "transport", "outcome"],
)
SESSIONS = Counter("acs_checkout_sessions", "Checkout session events.", ["event"])
SESSION_ACTORS = Gauge("acs_session_actors", "Live session actors.", multiprocess_mode="livesum")
MAILBOX_DEPTH = Gauge(
    "acs_actor_mailbox_depth",
    "Messages waiting, per actor kind.",
    ["kind"],
    multiprocess_mode="livesum",
)
RESTARTS = Counter("acs_actor_restarts", "Actor restarts by their supervisor.", ["kind"])
CRASHES = Counter(
    "acs_actor_crashes", "Actors that ended by an exception or a kill, and escalations.", ["kind"]
)
ORDERS = Counter("acs_orders", "Orders created.", ["currency"])
ORDER_VALUE = Counter(
    "acs_order_value_minor_units", "Value of orders created, in minor units.", ["currency"]
)
PAYMENTS = Counter("acs_payments", "Payment attempts.", ["processor", "outcome"])
PAYMENT_DURATION = Histogram(
    "acs_payment_duration_seconds", "Time of one payment attempt.", ["processor"]
)
WEBHOOK_DELIVERIES = Counter(
    "acs_webhook_deliveries", "Webhook delivery attempts.", ["event", "outcome"]
)
OUTBOX = Gauge(
    "acs_webhook_outbox_events",
    "Outbox events: pending (not delivered yet, in flight included) and dead.",
    ["state"],
    multiprocess_mode="max",
)
IDEMPOTENCY = Counter("acs_idempotency", "Idempotent requests by result.", ["result"])
RATE_LIMITED = Counter("acs_rate_limited", "Requests refused by the rate limit.")
AUTH_FAILURES = Counter("acs_auth_failures", "Refused credentials.", ["reason"])
INVENTORY = Gauge(
    "acs_inventory_units",
    "Stock units by state.",
    ["product", "state"],
    multiprocess_mode="max",
)


def initialise(
    products: Iterable[str], currencies: Iterable[str], processors: Iterable[str]
) -> None:
    """Create every bounded label set, so each family shows from the first scrape."""
    for event in SESSION_EVENTS:
        SESSIONS.labels(event)
    for operation in CHECKOUT_OPERATIONS:
        for transport in TRANSPORTS:
            for result in OPERATION_OUTCOMES:
                CHECKOUT_CALLS.labels(operation, transport, result)
    for kind in ACTOR_KINDS:
        RESTARTS.labels(kind)
        CRASHES.labels(kind)
        MAILBOX_DEPTH.labels(kind)
    for currency in currencies:
        ORDERS.labels(currency)
        ORDER_VALUE.labels(currency)
    for processor in processors:
        PAYMENT_DURATION.labels(processor)
        for outcome in PAYMENT_OUTCOMES:
            PAYMENTS.labels(processor, outcome)
    for event in WEBHOOK_EVENTS:
        for outcome in WEBHOOK_OUTCOMES:
            WEBHOOK_DELIVERIES.labels(event, outcome)
    for state in ("pending", "dead"):
        OUTBOX.labels(state)
    for result in IDEMPOTENCY_RESULTS:
        IDEMPOTENCY.labels(result)
    for reason in AUTH_REASONS:
        AUTH_FAILURES.labels(reason)
    for product in products:
        for state in ("reserved", "available"):
            INVENTORY.labels(product, state)
    HTTP_REQUESTS.labels("/health", "GET", "200")
    HTTP_DURATION.labels("/health")
    SESSION_ACTORS.set(0)
    RATE_LIMITED.inc(0)


def method_label(method: str) -> str:
    """A request method as a bounded label: any method but the usual ones is `OTHER`."""
    return method if method in HTTP_METHODS else "OTHER"


def outcome_of(status: int) -> str:
    """A checkout operation's outcome label, from the HTTP status it answered (over
    MCP, the status of the REST request it maps to)."""
    return "ok" if status < 400 else "refused" if status < 500 else "failed"


def exposition() -> bytes:
    """The scrape body: this process's registry, or every worker's in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


# Feed push (the feed publisher): products the platform accepted, failed requests by a
# bounded reason, and how long the oldest change not yet accepted has waited.
FEED_PUSH_FAILURE_REASONS = ("network", "throttled", "server_error", "refused", "store")
FEED_PRODUCTS_PUSHED = Counter(
    "acs_feed_products_pushed", "Products an agent platform accepted into the pushed feed."
)
FEED_PUSH_FAILURES = Counter(
    "acs_feed_push_failures",
    "Failed feed pushes: network (or timeout), throttled (429), server_error (5xx), "
    "refused (other 4xx, or an unusable answer), store (unavailable).",
    ["reason"],
)
FEED_PUSH_LAG = Gauge(
    "acs_feed_push_lag_seconds",
    "How long the oldest product change not yet accepted by the platform has waited "
    "(0: the pushed feed is in step; set by the instance that publishes).",
    multiprocess_mode="livemax",
)


def initialise_feed_push() -> None:
    """The feed push families (and its actor kind, `feeds`), from the first scrape of an
    instance that pushes."""
    RESTARTS.labels("feeds")
    CRASHES.labels("feeds")
    FEED_PRODUCTS_PUSHED.inc(0)
    for reason in FEED_PUSH_FAILURE_REASONS:
        FEED_PUSH_FAILURES.labels(reason)
    FEED_PUSH_LAG.set(0)

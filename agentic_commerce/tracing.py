"""Spans as every layer makes them (OpenTelemetry); off, each hook costs one check.

Until `install` is called (`config.tracing` does it from the `OTEL_*` variables,
tests with an in-memory exporter) the tracer is None and every helper returns at
once, without building a name or an attribute. Spans are children of the current
span only while it records: background work (timers, pollers, the keeper) that no
request started opens no trace of its own.

Context across boundaries, which contextvars do not cross by themselves:
- tasks: trio copies contextvars into a task when it starts, so a span is not the
  parent of work in tasks started elsewhere (an actor's). A message carries its
  sender's context and the time it was posted (`Sent`); the actor handles it in a
  child span (`handling`), after a span of its wait in the mailbox;
- instances: the W3C `traceparent`/`tracestate` headers (`inject`, and `extract`
  in the HTTP server span);
- time: an outbox event keeps the `traceparent` of the request that placed the
  order (`traceparent`); each delivery attempt is a new trace linked to it
  (`linked_root`).

No attribute holds a secret, token, key or card data: callers pass ids, kinds,
outcomes, templates and addresses only, and a failure is recorded by its type
(`error.type`), never its message.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, Tracer, TracerProvider
from opentelemetry.util.types import AttributeValue

from agentic_commerce import __version__

Attributes = Mapping[str, AttributeValue]
Nothing = contextlib.nullcontext[None]
NOTHING: Nothing = contextlib.nullcontext()  # what a hook is when off
_tracer: Tracer | None = None


def install(provider: TracerProvider) -> None:
    """Make spans from now on, through `provider` (its processors export them)."""
    global _tracer
    _tracer = provider.get_tracer("agentic_commerce", __version__)


def uninstall() -> None:
    """Back to no spans at all (at shutdown; tests)."""
    global _tracer
    _tracer = None


def enabled() -> bool:
    return _tracer is not None


def recording() -> bool:
    """Whether a span made now would be recorded: tracing is on and the current
    span records (a sampled request's)."""
    return _tracer is not None and trace.get_current_span().is_recording()


class Active:
    """A span made current for a block, ended after it. A failure (an `Exception`:
    not a cancellation) is recorded by its type alone: messages and tracebacks
    could quote data."""

    __slots__ = ("span", "token")

    def __init__(self, span: Span) -> None:
        self.span = span
        self.token: object = None

    def __enter__(self) -> Span:
        self.token = otel_context.attach(trace.set_span_in_context(self.span))
        return self.span

    def __exit__(self, kind: type[BaseException] | None, error: object, _tb: object) -> None:
        otel_context.detach(self.token)  # type: ignore[arg-type]  # attach's own token
        if kind is not None and issubclass(kind, Exception):
            fail(self.span, kind.__name__)
        self.span.end()


def fail(span: Span, error_type: str) -> None:
    span.set_attribute("error.type", error_type)
    span.set_status(Status(StatusCode.ERROR, error_type))


def child_span(
    name: str, attributes: Attributes | None = None, kind: SpanKind = SpanKind.INTERNAL
) -> Active | Nothing:
    """A span for the block, child of the current one while that one records."""
    if _tracer is None or not trace.get_current_span().is_recording():
        return NOTHING
    return Active(_tracer.start_span(name, kind=kind, attributes=attributes))


def current_span() -> Span | None:
    """The current span if it records (to add what a block learned), else None."""
    if _tracer is None:
        return None
    span = trace.get_current_span()
    return span if span.is_recording() else None


# actor messages ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sent:
    """What a message carries to the actor's task: its sender's context, and when
    it was posted (wall-clock ns: the start of its wait in the mailbox)."""

    context: Context
    at_ns: int


def sent() -> Sent | None:
    """The current context for a message, when there is a trace to continue."""
    if _tracer is None:
        return None
    current = otel_context.get_current()
    if not trace.get_current_span(current).get_span_context().is_valid:
        return None
    return Sent(current, time.time_ns())


def handling(
    sent: Sent | None, kind: str, name: str, what: str, *, waited: bool = True
) -> Active | Nothing:
    """The block an actor handles `what` (a message's type) in, as a child span of
    the sender's; before it, unless not `waited`, a span of the message's wait in
    the mailbox. A sender's span that is not sampled is only made current, so the
    actor's log lines still carry its trace id. (The sender's span may have ended
    by then, after a `tell`: its sampled flag still says.)"""
    if sent is None or _tracer is None:
        return NOTHING
    parent = trace.get_current_span(sent.context).get_span_context()
    if not parent.trace_flags.sampled:
        return Active(trace.NonRecordingSpan(parent))
    attributes: Attributes = {
        "acs.actor.kind": kind,
        "acs.actor.name": name,
        "acs.actor.message": what,
    }
    if waited:
        wait = _tracer.start_span(
            f"{kind} wait", sent.context, attributes=attributes, start_time=sent.at_ns
        )
        wait.end()
    return Active(_tracer.start_span(f"{kind} {what}", sent.context, attributes=attributes))


# across instances and time ---------------------------------------------------------------


def server_span(name: str, headers: Mapping[str, str]) -> Active | Nothing:
    """The span of a request this process serves, child of the caller's span when
    its headers name one (W3C `traceparent`), else the root of a new trace."""
    if _tracer is None:
        return NOTHING
    return Active(_tracer.start_span(name, propagate.extract(headers), kind=SpanKind.SERVER))


def inject(headers: MutableMapping[str, str]) -> None:
    """Add the current context's propagation headers (W3C `traceparent`, `tracestate`)."""
    if _tracer is not None:
        propagate.inject(headers)


def traceparent() -> str | None:
    """The current span as a W3C `traceparent`, to keep with what outlives it."""
    if _tracer is None:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def linked_root(
    name: str, parent: str | None, attributes: Attributes, kind: SpanKind = SpanKind.INTERNAL
) -> Active | Nothing:
    """A span that starts a trace of its own, linked to the span a `traceparent` names
    (e.g. a webhook delivery attempt, linked to the request that placed the order)."""
    if _tracer is None:
        return NOTHING
    links = []
    if parent is not None:
        carrier = {"traceparent": parent}
        linked = trace.get_current_span(propagate.extract(carrier)).get_span_context()
        if linked.is_valid:
            links.append(Link(linked))
    span = _tracer.start_span(name, Context(), kind=kind, attributes=attributes, links=links)
    return Active(span)


# outgoing HTTP (forwarded calls, webhooks, the PSP) ----------------------------------------


def http_client(method: str, url: str, template: str | None = None) -> Active | Nothing:
    """A client span of one HTTP request (semantic conventions: method, server and,
    when given, `url.template`). The URL itself is not recorded: a configured one
    may hold a credential, and a path an id or token."""
    if not recording():
        return NOTHING
    parts = urlsplit(url)
    described: dict[str, Any] = {
        "http.request.method": method,
        "server.address": parts.hostname or "",
        "server.port": parts.port or (443 if parts.scheme == "https" else 80),
        "url.scheme": parts.scheme,
    }
    if template is None:
        return child_span(method, described, SpanKind.CLIENT)
    described["url.template"] = template
    return child_span(f"{method} {template}", described, SpanKind.CLIENT)


def http_status(span: Span | None, status: int) -> None:
    """The answer's status on a client span (an error from 400 on, as the conventions say)."""
    if span is not None:
        span.set_attribute("http.response.status_code", status)
        if status >= 400:
            fail(span, str(status))

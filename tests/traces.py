"""Spans recorded in process, for tests: the real SDK (provider, sampler, span
processor) with an in-memory exporter in place of OTLP."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, StaticSampler

from agentic_commerce import tracing

AGENT_TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
AGENT_SPAN_ID = 0x00F067AA0BA902B7
AGENT_TRACEPARENT = f"00-{AGENT_TRACE_ID:032x}-{AGENT_SPAN_ID:016x}-01"
ALWAYS = ParentBased(StaticSampler(Decision.RECORD_AND_SAMPLE))


@contextmanager
def recorded_spans(sampler: Sampler = ALWAYS) -> Iterator[InMemorySpanExporter]:
    """Tracing on for the block; every ended span lands in the exporter at once."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler, shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    try:
        yield exporter
    finally:
        tracing.uninstall()
        provider.shutdown()


def named(spans: Iterable[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


def one(spans: Iterable[ReadableSpan], name: str) -> ReadableSpan:
    found = named(spans, name)
    assert len(found) == 1, (name, sorted(span.name for span in spans))
    return found[0]


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def span_id(span: ReadableSpan) -> int:
    return span.context.span_id if span.context is not None else 0


def trace_id(span: ReadableSpan) -> int:
    return span.context.trace_id if span.context is not None else 0


def everything_said(spans: Iterable[ReadableSpan]) -> str:
    """Every name, attribute and event of the spans, as one text to search."""
    parts: list[str] = []
    for span in spans:
        parts += [span.name, repr(dict(span.attributes or {})), repr(span.resource.attributes)]
        parts += [f"{event.name} {dict(event.attributes or {})!r}" for event in span.events]
        parts += [repr(dict(link.attributes or {})) for link in span.links]
    return "\n".join(parts)

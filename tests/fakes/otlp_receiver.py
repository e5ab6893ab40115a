"""A real OTLP/HTTP trace receiver on loopback: `POST /v1/traces` with a protobuf
`ExportTraceServiceRequest` (gzip or not), decoded with opentelemetry-proto and kept
as plain spans with their resource, answered as a collector answers."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import trio
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from tests.fakes.asgi import Receive, Scope, Send, lifespan, read_body, respond, serving

PROTOBUF = b"application/x-protobuf"


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    kind: int  # opentelemetry.proto.trace.v1 Span.SpanKind: 2 server, 3 client
    trace_id: str  # hex, as in a traceparent
    span_id: str
    parent_span_id: str  # "" for a root
    attributes: dict[str, Any]
    links: tuple[tuple[str, str], ...]  # (trace id, span id)
    events: tuple[str, ...]
    resource: dict[str, Any]


def value_of(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [value_of(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return as_dict(value.kvlist_value.values)
    return getattr(value, kind) if kind else None


def as_dict(pairs: Any) -> dict[str, Any]:
    return {pair.key: value_of(pair.value) for pair in pairs if isinstance(pair, KeyValue)}


def decoded(body: bytes) -> list[ReceivedSpan]:
    request = ExportTraceServiceRequest.FromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        resource = as_dict(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        name=span.name,
                        kind=span.kind,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        attributes=as_dict(span.attributes),
                        links=tuple((ln.trace_id.hex(), ln.span_id.hex()) for ln in span.links),
                        events=tuple(event.name for event in span.events),
                        resource=resource,
                    )
                )
    return spans


@dataclass
class OtlpReceiver:
    url: str = ""
    spans: list[ReceivedSpan] = field(default_factory=list)
    _changed: trio.Event = field(default_factory=trio.Event)

    async def wait_until(
        self, condition: Callable[[list[ReceivedSpan]], bool], timeout: float = 20.0
    ) -> list[ReceivedSpan]:
        """The spans received, once `condition` holds of them (bounded)."""
        with trio.fail_after(timeout):
            while not condition(self.spans):
                await self._changed.wait()
        return list(self.spans)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        body = await read_body(receive)
        headers = dict(scope["headers"])
        if scope["path"] != "/v1/traces" or headers.get(b"content-type") != PROTOBUF:
            await respond(send, 404, b"")
            return
        if headers.get(b"content-encoding") == b"gzip":
            body = gzip.decompress(body)
        self.spans += decoded(body)
        self._changed.set()
        self._changed = trio.Event()
        answer = ExportTraceServiceResponse().SerializeToString()
        await respond(send, 200, answer, [(b"content-type", PROTOBUF)])


@asynccontextmanager
async def running_otlp_receiver() -> AsyncIterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    async with serving(receiver) as url:
        receiver.url = url
        yield receiver

"""Tracing set up from the standard `OTEL_*` variables, or left off.

Off (no span made, no SDK loaded) unless an exporter is named (`OTEL_TRACES_EXPORTER`:
`otlp` or `console`) or an OTLP endpoint is set (`OTEL_EXPORTER_OTLP_ENDPOINT`, or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`); `OTEL_SDK_DISABLED=true` or
`OTEL_TRACES_EXPORTER=none` turn it off whatever else says. The SDK reads the rest
itself: the exporters their endpoint, headers, timeout and compression, the
provider its sampler (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`), the batch
processor its delay and sizes (`OTEL_BSP_*`), the resource `OTEL_SERVICE_NAME` and
`OTEL_RESOURCE_ATTRIBUTES`. Each process reports its own `service.instance.id`
(a new UUID unless the attributes name one), so two instances on one host, or
two workers, stay apart.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

from agentic_commerce import __version__, tracing
from agentic_commerce.config.settings import SettingsError

SERVICE_NAME = "agentic-commerce-server"
PROTOCOLS = ("http/protobuf", "grpc")
ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def wanted(environ: Mapping[str, str]) -> bool:
    """Whether the variables ask for traces."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    return bool(exporter) or any(environ.get(name, "").strip() for name in ENDPOINTS)


def exporter(environ: Mapping[str, str]) -> SpanExporter:
    """The exporter the variables name (the OTLP ones read their own settings)."""
    name = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() or "otlp"
    if name == "console":
        return ConsoleSpanExporter()
    if name != "otlp":
        raise SettingsError(f"OTEL_TRACES_EXPORTER={name}: use otlp, console or none")
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or PROTOCOLS[0]
    ).strip()
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpSpanExporter,
        )

        return HttpSpanExporter()
    raise SettingsError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol}: use {' or '.join(PROTOCOLS)}")


def resource() -> Resource:
    """This process as the traces name it; the variables' attributes win."""
    own = Resource.create(
        {
            "service.name": SERVICE_NAME,
            "service.version": __version__,
            "service.instance.id": str(uuid.uuid4()),
            "host.name": socket.gethostname(),
            "process.pid": os.getpid(),
        }
    )
    return own.merge(OTELResourceDetector().detect())


def provider() -> TracerProvider | None:
    """The provider the environment asks for (None: tracing off)."""
    if not wanted(os.environ):
        return None
    made = TracerProvider(resource=resource(), shutdown_on_exit=False)  # sampler: the env's
    made.add_span_processor(BatchSpanProcessor(exporter(os.environ)))  # OTEL_BSP_*
    return made


def start() -> TracerProvider | None:
    """Tracing on as the environment says (None: off). Call `stop` at exit."""
    made = provider()
    if made is not None:
        trace.set_tracer_provider(made)  # the MCP SDK's own spans (tool calls) too
        tracing.install(made)
    return made


def stop(started: TracerProvider | None) -> None:
    """Export what is buffered (bounded by the exporter's timeout) and stop the
    batch processor's thread."""
    if started is not None:
        tracing.uninstall()
        started.shutdown()

"""Structured logs with structlog: JSON lines by default, readable console on request.

JSON lines are rendered by orjson and written as bytes (one log line per request
is on the hot path); `exc_info` becomes a formatted traceback field. With tracing
on, a line written inside a span carries its `trace_id` and `span_id`, so a trace
leads to its log lines and back.
"""

from __future__ import annotations

import logging
import sys

import orjson
import structlog
from opentelemetry import trace


def add_trace_ids(
    _logger: object, _method: str, event: structlog.types.EventDict
) -> structlog.types.EventDict:
    """The current span's ids (W3C hex), when the line is written inside one."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event["trace_id"] = format(context.trace_id, "032x")
        event["span_id"] = format(context.span_id, "016x")
    return event


def configure_logging(level: str = "INFO", fmt: str = "json", traced: bool = False) -> None:
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if traced:  # off, nothing to look up per line
        shared.append(add_trace_ids)
    processors: list[structlog.types.Processor]
    if fmt == "json":
        processors = [
            *shared,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=orjson.dumps, default=str),
        ]
        factory: structlog.types.WrappedLogger = structlog.BytesLoggerFactory(sys.stderr.buffer)
    else:
        processors = [*shared, structlog.dev.ConsoleRenderer(colors=False)]
        factory = structlog.PrintLoggerFactory(sys.stderr)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )

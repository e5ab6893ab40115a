"""Tracing from the standard OTEL_* variables: off unless asked, the exporter and
protocol they name, the sampler and batch delay the SDK reads from them, and a
resource that tells each instance apart."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

from agentic_commerce import tracing
from agentic_commerce.config import tracing as setup
from agentic_commerce.config.logging import add_trace_ids
from agentic_commerce.config.settings import SettingsError
from tests.traces import AGENT_TRACE_ID, AGENT_TRACEPARENT, recorded_spans

ENDPOINT = "http://127.0.0.1:4318"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OTEL_SDK_DISABLED",
        "OTEL_TRACES_EXPORTER",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_SERVICE_NAME",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_TRACES_SAMPLER",
        "OTEL_TRACES_SAMPLER_ARG",
        "OTEL_BSP_SCHEDULE_DELAY",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "shop"}, False),  # naming is not asking
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{ENDPOINT}/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT}, False),
    ],
)
def test_off_unless_an_exporter_or_endpoint_is_set(environ: dict[str, str], on: bool) -> None:
    assert setup.wanted(environ) is on


def test_the_protocol_chooses_the_otlp_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", ENDPOINT)
    default = setup.exporter({})
    assert isinstance(default, Http)
    assert default._endpoint == f"{ENDPOINT}/v1/traces"  # the exporter read it itself
    assert isinstance(setup.exporter({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}), Grpc)
    traces_only = {
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
    }
    assert isinstance(setup.exporter(traces_only), Http)
    assert isinstance(setup.exporter({"OTEL_TRACES_EXPORTER": "console"}), ConsoleSpanExporter)
    with pytest.raises(SettingsError, match="OTEL_EXPORTER_OTLP_PROTOCOL=http/json"):
        setup.exporter({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"})
    with pytest.raises(SettingsError, match="OTEL_TRACES_EXPORTER=zipkin"):
        setup.exporter({"OTEL_TRACES_EXPORTER": "zipkin"})


def test_each_process_is_an_instance_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = setup.resource().attributes, setup.resource().attributes
    assert first["service.name"] == "agentic-commerce-server"
    assert first["service.instance.id"] != second["service.instance.id"]
    monkeypatch.setenv("OTEL_SERVICE_NAME", "shop-eu")
    monkeypatch.setenv(
        "OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=prod,service.instance.id=a1"
    )
    named = setup.resource().attributes
    assert named["service.name"] == "shop-eu"
    assert named["deployment.environment.name"] == "prod"
    assert named["service.instance.id"] == "a1"  # the operator's word wins


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[TracerProvider]:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", ENDPOINT)
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "250")
    made = setup.provider()
    assert made is not None
    yield made
    made.shutdown()


def test_the_sdk_reads_the_sampler_and_the_batch_delay(provider: TracerProvider) -> None:
    assert "TraceIdRatioBased{0.25}" in provider.sampler.get_description()
    [processor] = provider._active_span_processor._span_processors
    assert isinstance(processor, BatchSpanProcessor)
    assert processor._batch_processor._schedule_delay == 0.25
    assert isinstance(processor._batch_processor._exporter, Http)


def test_no_provider_when_off() -> None:
    assert setup.provider() is None
    assert setup.start() is None


def test_log_lines_inside_a_span_carry_its_ids() -> None:
    with recorded_spans():
        assert add_trace_ids(None, "info", {}) == {}  # outside any span
        with tracing.server_span("request", {"traceparent": AGENT_TRACEPARENT}) as span:
            assert span is not None
            line = add_trace_ids(None, "info", {"event": "request"})
        assert line["trace_id"] == f"{AGENT_TRACE_ID:032x}"
        assert line["span_id"] == f"{span.get_span_context().span_id:016x}"

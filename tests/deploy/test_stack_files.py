"""The deployment stack's files, checked for real where no Docker engine runs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import trio
import yaml
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from pytest import MonkeyPatch

from agentic_commerce.actors.system import ActorSystem
from agentic_commerce.config import tracing as tracing_setup
from agentic_commerce.config.settings import Settings
from agentic_commerce.http.app import create_app
from agentic_commerce.store.memory import MemoryStore
from agentic_commerce.supervisor import load_catalog

DOCKER = Path(__file__).resolve().parents[2] / "docker"


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DOCKER / "compose.yaml").read_text()))


def test_compose_parses_and_names_existing_files() -> None:
    stack = compose()
    services = stack["services"]
    assert {"redis", "app1", "app2", "nginx", "prometheus", "grafana"} <= set(services)
    for name in ("app1", "app2"):
        build = services[name]["build"]
        assert (DOCKER / build["context"] / build["dockerfile"]).is_file()
        assert services[name]["environment"]["REDIS_URL"].startswith("redis://redis")
    assert "--appendonly" in services["redis"]["command"]
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DOCKER / source).exists(), source
    assert (DOCKER / ".env.example").is_file()


def test_dockerfile_runs_as_non_root_with_a_healthcheck() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    assert re.search(r"^USER (?!root)\w+", text, re.MULTILINE)
    healthcheck = text[text.index("HEALTHCHECK") :]
    assert "python" in healthcheck and "curl" not in healthcheck


def test_promtool_accepts_the_prometheus_configuration() -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: scripts/test installs Debian's prometheus package"
    result = subprocess.run(
        [promtool, "check", "config", str(DOCKER / "prometheus" / "prometheus.yml")],
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def dashboard_metrics() -> set[str]:
    dashboard = json.loads(
        (DOCKER / "grafana" / "dashboards" / "agentic-commerce.json").read_text()
    )
    names: set[str] = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            names.update(re.findall(r"\bacs_[a-z_]+", target["expr"]))
    return names


async def test_every_dashboard_query_names_an_exported_metric(nursery: trio.Nursery) -> None:
    settings = Settings()
    system = ActorSystem(settings, MemoryStore(), load_catalog(settings))
    nursery.start_soon(system.run)
    await system.sessions.wait_ready()
    async with create_app(system).test_app() as app:
        response = await app.test_client().get("/metrics")
        text = await response.get_data(as_text=True)
    exported = set(re.findall(r"^(acs_[a-z_]+)", text, re.MULTILINE))
    used = dashboard_metrics()
    assert used, "the dashboard has no queries"
    assert used <= exported, sorted(used - exported)


def test_grafana_provisions_the_prometheus_datasource() -> None:
    provisioning = DOCKER / "grafana" / "provisioning"
    source = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    assert source["datasources"][0]["type"] == "prometheus"
    dashboards = yaml.safe_load((provisioning / "dashboards" / "dashboards.yml").read_text())
    assert dashboards["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def compose_default(value: str) -> str:
    """A compose value with every `${NAME:-default}` replaced by its default."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def test_the_instances_trace_to_the_backend_grafana_reads(monkeypatch: MonkeyPatch) -> None:
    services = compose()["services"]
    backend = services["jaeger"]
    assert backend["image"].startswith("jaegertracing/all-in-one:")
    assert backend["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"
    envs = [
        {k: compose_default(str(v)) for k, v in services[name]["environment"].items()}
        for name in ("app1", "app2")
    ]
    assert envs[0]["OTEL_EXPORTER_OTLP_ENDPOINT"] == envs[1]["OTEL_EXPORTER_OTLP_ENDPOINT"]
    assert "jaeger" in services["app1"]["depends_on"]
    # The server's own set-up takes the stack's variables: OTLP over HTTP to Jaeger's 4318.
    for name, value in envs[0].items():
        monkeypatch.setenv(name, value)
    assert tracing_setup.wanted(envs[0])
    exporter = tracing_setup.exporter(envs[0])
    assert isinstance(exporter, OTLPSpanExporter)
    assert exporter._endpoint == "http://jaeger:4318/v1/traces"
    provider = tracing_setup.provider()
    assert provider is not None
    assert "TraceIdRatioBased{0.1}" in provider.sampler.get_description()
    assert provider.resource.attributes["deployment.environment.name"] == "development"
    provider.shutdown()
    # Grafana reads the traces from Jaeger's query port.
    sources = DOCKER / "grafana" / "provisioning" / "datasources" / "jaeger.yml"
    [source] = yaml.safe_load(sources.read_text())["datasources"]
    assert source["type"] == "jaeger"
    assert urlsplit(source["url"]).hostname == "jaeger"
    assert urlsplit(source["url"]).port == 16686
    assert "16686:16686" in backend["ports"]

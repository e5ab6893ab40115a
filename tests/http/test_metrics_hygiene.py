"""Metrics hygiene: no `_created` series, a method no client can multiply, and every
family documented in the README with its labels (see also the label bounds after
a fuzz run: tests/fuzz)."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client.metrics import MetricWrapperBase

from agentic_commerce import metrics
from agentic_commerce.actors.system import ActorSystem
from tests.http.conftest import AcpClient, address_update, create_body, payment
from tests.http.test_observability import scrape

README = Path(__file__).resolve().parents[2] / "README.md"
SUFFIX = {"counter": "_total"}  # what the exposition adds to a family's name


def families() -> dict[str, tuple[str, ...]]:
    """Every family the server defines (exposed name: its labels)."""
    return {
        f"{family._name}{SUFFIX.get(family._type, '')}": tuple(family._labelnames)
        for family in vars(metrics).values()
        if isinstance(family, MetricWrapperBase)
    }


def undocumented(readme: str) -> list[str]:
    """The families (or their labels) the README's metrics table leaves out: each
    family needs a row `| `name` | ... |` naming each of its labels in backticks."""
    rows = {
        match.group(1): line
        for line in readme.splitlines()
        if (match := re.match(r"^\s*\|\s*`(acs_[a-z_]+)`", line))
    }
    missing = []
    for name, labels in families().items():
        row = rows.get(name)
        if row is None:
            missing.append(name)
        missing += [f"{name}{{{label}}}" for label in labels if row and f"`{label}`" not in row]
    return missing


async def test_no_created_series(acp: AcpClient, system: ActorSystem) -> None:
    version = "2026-04-17"
    session = await acp.create(create_body(version, **address_update(version)))
    await acp.complete(session.body["id"], payment(version))
    text = await scrape(acp)
    assert "acs_orders_total" in text
    assert "_created" not in text


async def test_an_unknown_method_is_counted_as_other(acp: AcpClient) -> None:
    response = await acp._client.open("/checkout_sessions", method="BREWCOFFEE")
    assert response.status_code == 405
    text = await scrape(acp)
    assert "BREWCOFFEE" not in text
    assert 'method="OTHER",route="unmatched",status="405"' in text


def test_the_check_finds_an_undocumented_family_or_label() -> None:
    assert "acs_orders_total" in undocumented("| `acs_payments_total` | `processor` |")
    assert "acs_payments_total{outcome}" in undocumented("| `acs_payments_total` | `processor` |")


def test_every_family_is_documented_with_its_labels() -> None:
    assert undocumented(README.read_text()) == []

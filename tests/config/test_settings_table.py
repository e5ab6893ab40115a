"""The README's settings table is the one the declarations render: every declared variable,
no other, each with its declared default."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from agentic_commerce.config.settings import Settings
from agentic_commerce.config.settings_table import (
    readme_table,
    settings_table,
    with_table,
)

README = Path(__file__).parents[2] / "README.md"
FIX = "run: python -m agentic_commerce.config.settings_table README.md"


def variables(table: list[str]) -> list[str]:
    return [row.split(" | ")[0].strip("|` ") for row in table[2:]]


def test_the_readme_table_is_the_rendered_one() -> None:
    assert readme_table(README.read_text()) == settings_table(), FIX


def test_every_setting_has_a_variable_and_a_meaning() -> None:
    for name, field in Settings.model_fields.items():
        assert isinstance(field.validation_alias, str), name
        assert field.description, name
    assert variables(settings_table()) == [
        field.validation_alias for field in Settings.model_fields.values()
    ]


def test_defaults_are_rendered_from_the_declarations() -> None:
    rows = {row.split(" | ")[0]: row.split(" | ")[1] for row in settings_table()[2:]}
    assert rows["| `PORT`"] == "`8080`"
    assert rows["| `RATE_LIMIT_SETTLE_SECONDS`"] == "`0.25`"
    assert rows["| `STRIPE_SPT_RISK_CHECK`"] == "`false`"
    assert rows["| `WEBHOOK_RETRY_SCHEDULE`"] == "`1,5,30,120,600,1800,3600,10800,21600,43200`"
    assert rows["| `TRUSTED_PROXIES`"] == rows["| `REDIS_SENTINEL_MASTER`"] == "unset"
    assert rows["| `REDIS_MODE`"] == "`single`"


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda t: t.replace("| `PORT` | `8080` |", "| `PORT` | `8081` |"), "a default differs"),
        (
            lambda t: t.replace("| `REDIS_MODE` | `single` | ", "| `REDIS_MODES` | `single` | "),
            "an undeclared variable",
        ),
        (
            lambda t: "\n".join(line for line in t.split("\n") if "`WORKERS`" not in line),
            "a missing setting",
        ),
    ],
)
def test_a_table_out_of_step_is_caught_and_rewritten(
    change: Callable[[str], str], why: str
) -> None:
    readme = README.read_text()
    stale = change(readme)
    assert stale != readme, why
    assert readme_table(stale) != settings_table(), why
    assert with_table(stale) == with_table(readme)
    assert readme_table(with_table(stale)) == settings_table()

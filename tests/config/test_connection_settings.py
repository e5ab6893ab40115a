"""KEEP_ALIVE_SECONDS and BODY_TIMEOUT_SECONDS reach hypercorn and the app."""

from __future__ import annotations

import pytest

from agentic_commerce.config.settings import Settings, SettingsError
from agentic_commerce.supervisor import hypercorn_config


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert (settings.keep_alive_seconds, settings.body_timeout_seconds) == (5.0, 10.0)
    assert hypercorn_config(settings).keep_alive_timeout == 5.0


def test_the_keep_alive_timeout_reaches_hypercorn() -> None:
    settings = Settings.from_env({"KEEP_ALIVE_SECONDS": "1.5", "BODY_TIMEOUT_SECONDS": "3"})
    assert hypercorn_config(settings).keep_alive_timeout == 1.5
    assert settings.body_timeout_seconds == 3.0


@pytest.mark.parametrize("name", ["KEEP_ALIVE_SECONDS", "BODY_TIMEOUT_SECONDS"])
@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_a_timeout_must_be_a_positive_number(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})

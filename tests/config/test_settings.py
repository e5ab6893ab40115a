"""Settings from the environment: APP_ENV and the rules production starts under."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from agentic_commerce.config.production import MIN_SECRET_LENGTH
from agentic_commerce.config.settings import Settings, SettingsError
from agentic_commerce.supervisor import main

# What production demands, and nothing more.
MINIMAL_PRODUCTION = {
    "APP_ENV": "production",
    "API_KEYS": "live_key_0123456789abcdefghij:merchant_acme",
    "REDIS_URL": "redis://localhost:6379/0",
    "STRIPE_SECRET_KEY": "sk_live_placeholder",
}
SHORT = "tooShort_" + "q" * (MIN_SECRET_LENGTH - 10)  # one character short
LONG_ENOUGH = "longEnough_" + "q" * (MIN_SECRET_LENGTH - 11)

# (the setting named in the problem, the environment that sets it to `value`)
SECRETS = [
    ("API_KEYS", lambda value: {"API_KEYS": f"{value}:merchant_acme"}),
    ("ADMIN_API_KEY", lambda value: {"ADMIN_API_KEY": value}),
    ("SIGNATURE_SECRET", lambda value: {"SIGNATURE_SECRET": value}),
    ("MERCHANT_SIGNATURE_SECRETS", lambda value: {"MERCHANT_SIGNATURE_SECRETS": f"m1:{value}"}),
    (
        "WEBHOOK_SECRET",
        lambda value: {"WEBHOOK_URL": "https://platform.example/hooks", "WEBHOOK_SECRET": value},
    ),
    ("VAULT_SECRET", lambda value: {"VAULT_ENABLED": "true", "VAULT_SECRET": value}),
    (
        "INTERNAL_SECRET",
        lambda value: {"INSTANCE_URL": "http://app1:8080", "INTERNAL_SECRET": value},
    ),
]


def problems(**changes: str) -> list[str]:
    env = {k: v for k, v in {**MINIMAL_PRODUCTION, **changes}.items() if v}
    return Settings.from_env(env).production_problems()


def test_the_secret_values_sit_on_either_side_of_the_bound() -> None:
    assert len(SHORT) == MIN_SECRET_LENGTH - 1 == 23
    assert len(LONG_ENOUGH) == MIN_SECRET_LENGTH


@pytest.mark.parametrize("value", ["prod", "staging", "test", "dev", "live"])
def test_an_unknown_app_env_is_refused(value: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"APP_ENV": value})
    message = str(refused.value)
    assert "APP_ENV" in message and "development" in message and "production" in message


@pytest.mark.parametrize(
    ("value", "production"),
    [("", False), ("development", False), ("production", True), (" Production ", True)],
)
def test_the_known_app_envs_are_accepted(value: str, production: bool) -> None:
    assert Settings.from_env({"APP_ENV": value}).production is production


def test_a_minimal_production_configuration_is_accepted() -> None:
    assert problems() == []


@pytest.mark.parametrize("name", ["API_KEYS", "REDIS_URL", "STRIPE_SECRET_KEY"])
def test_production_demands_api_keys_redis_and_stripe(name: str) -> None:
    found = problems(**{name: ""})
    assert len(found) == 1 and name in found[0]


def test_the_memory_store_is_refused_in_production() -> None:
    (problem,) = problems(REDIS_URL="")
    assert "REDIS_URL" in problem and "memory store" in problem


def test_simulated_payments_need_no_stripe_key_but_are_refused() -> None:
    (problem,) = problems(SIMULATED_PAYMENTS="true", STRIPE_SECRET_KEY="")
    assert "SIMULATED_PAYMENTS" in problem


@pytest.mark.parametrize(
    ("changes", "name"),
    [
        ({"WEBHOOK_URL": "https://platform.example/hooks"}, "WEBHOOK_SECRET"),
        ({"INSTANCE_URL": "http://app1:8080"}, "INTERNAL_SECRET"),
        ({"VAULT_ENABLED": "true"}, "VAULT_SECRET"),
    ],
)
def test_what_an_option_turns_on_demands_its_secret(changes: dict[str, str], name: str) -> None:
    (problem,) = problems(**changes)
    assert name in problem


@pytest.mark.parametrize(("name", "env"), SECRETS, ids=[name for name, _ in SECRETS])
def test_every_short_key_or_secret_is_refused_by_name_never_by_value(
    name: str, env: Callable[[str], dict[str, str]]
) -> None:
    (problem,) = problems(**env(SHORT))
    assert name in problem and str(MIN_SECRET_LENGTH) in problem
    assert SHORT not in problem and "tooShort" not in problem
    assert problems(**env(LONG_ENOUGH)) == []


def test_a_one_character_admin_key_is_refused() -> None:
    (problem,) = problems(ADMIN_API_KEY="\N{SNOWMAN}")
    assert "ADMIN_API_KEY" in problem and "\N{SNOWMAN}" not in problem


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AUTH_FAILURES_PER_MINUTE", "0"),
        ("AUTH_FAILURES_PER_MINUTE", "ten"),
        ("TRUSTED_PROXIES", "10.0.0.0/8,nginx"),
        ("RATE_LIMIT_SETTLE_SECONDS", "0"),
        ("RATE_LIMIT_SETTLE_SECONDS", "soon"),
    ],
)
def test_bad_throttle_and_rate_limit_settings_are_refused(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_throttle_settings_are_read() -> None:
    settings = Settings.from_env(
        {"AUTH_FAILURES_PER_MINUTE": "3", "TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7"}
    )
    assert settings.auth_failures_per_minute == 3
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.0/8", "192.0.2.7/32"]
    assert Settings.from_env({}).auth_failures_per_minute == 10
    assert Settings.from_env({}).trusted_proxies == ()


def test_the_settlement_interval_is_read() -> None:
    assert Settings.from_env({"RATE_LIMIT_SETTLE_SECONDS": "0.5"}).rate_limit_settle_seconds == 0.5
    assert Settings.from_env({}).rate_limit_settle_seconds == 0.25


def run_main(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> int:
    for name in list(os.environ):
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return main([])


def test_main_refuses_a_short_secret_in_production_without_showing_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main(monkeypatch, {**MINIMAL_PRODUCTION, "WEBHOOK_SECRET": SHORT}) == 2
    err = capsys.readouterr().err
    assert "APP_ENV=production refuses to start" in err and "WEBHOOK_SECRET" in err
    assert SHORT not in err


def test_main_refuses_a_mistyped_app_env(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main(monkeypatch, {"APP_ENV": "prod"}) == 2
    assert "APP_ENV must be one of development, production" in capsys.readouterr().err

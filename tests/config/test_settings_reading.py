"""How settings are read: from the mapping given and nothing else, blank as unset, every
variable's text parsed as before, secrets kept out of repr, and refusals naming the variable."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from agentic_commerce.config.settings import Settings, SettingsError

# Each variable that carries a secret, and the secret in it.
SECRETS = {
    "API_KEYS": ("key_secret_1:m1", "key_secret_1"),
    "ADMIN_API_KEY": ("admin_secret_2", "admin_secret_2"),
    "SIGNATURE_SECRET": ("sig_secret_3", "sig_secret_3"),
    "MERCHANT_SIGNATURE_SECRETS": ("m1:msig_secret_4", "msig_secret_4"),
    "WEBHOOK_SECRET": ("hook_secret_5", "hook_secret_5"),
    "VAULT_SECRET": ("vault_secret_6", "vault_secret_6"),
    "INTERNAL_SECRET": ("internal_secret_7", "internal_secret_7"),
    "STRIPE_SECRET_KEY": ("sk_secret_8", "sk_secret_8"),
    "REDIS_URL": ("redis://:redis_secret_9@r:6379/0", "redis_secret_9"),
}


def test_a_given_mapping_is_all_that_is_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PORT", "9999")
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("PORT=9998\n")
    assert Settings.from_env({}).port == 8080
    assert Settings().port == 8080  # the defaults, whatever the environment
    assert Settings.from_env().port == 9999  # None: the process environment


def test_variable_names_are_exact() -> None:
    assert Settings.from_env({"port": "1", "Port": "2"}).port == 8080
    assert Settings.from_env({"STRIPE_SPT_RISK_CHECK": "yes"}).stripe_risk_check is True
    assert Settings.from_env({"STRIPE_RISK_CHECK": "yes"}).stripe_risk_check is False


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_variable_counts_as_unset(blank: str) -> None:
    env = dict.fromkeys(
        ("PORT", "SIMULATED_PAYMENTS", "API_KEYS", "PUBLIC_URL", "LOG_LEVEL"), blank
    )
    settings = Settings.from_env(env)
    assert (settings.port, settings.simulated_payments, settings.log_level) == (8080, True, "INFO")
    assert settings.demo_api_key and settings.public_url is None


def test_values_are_parsed_as_documented() -> None:
    settings = Settings.from_env(
        {
            "LOG_LEVEL": " debug",
            "SHOP_URL": "https://shop.test/",
            "PUBLIC_URL": " https://api.test/ ",
            "API_KEYS": "k1:m1, k2:m2,",
            "PSP_ACCOUNTS": "urn:m1:psp_1",
            "SIMULATED_PAYMENTS": "Off",
            "VAULT_ENABLED": "1",
            "WEBHOOK_EVENT_NAMES": "legacy",
            "WEBHOOK_RETRY_SCHEDULE": "0.5,2",
            "TRUSTED_PROXIES": "2001:db8::/32",
            "INTERNAL_PORT": "0",
            "RATE_LIMIT_PER_MINUTE": "60",
        }
    )
    assert settings.log_level == "DEBUG"
    assert settings.order_url_template == "https://shop.test/orders/{order_id}"
    assert settings.public_url == "https://api.test"
    assert settings.api_keys == {"k1": "m1", "k2": "m2"} and not settings.demo_api_key
    assert settings.psp_account("urn:m1") == "psp_1" and settings.psp_account("m9") == "m9"
    assert (settings.simulated_payments, settings.vault_enabled) == (False, True)
    assert settings.webhook_legacy_names is True
    assert settings.webhook_retry_schedule == (0.5, 2.0)
    assert settings.trusted_proxies == (ipaddress.ip_network("2001:db8::/32"),)
    assert settings.internal_port is None
    assert settings.rate_limit_burst == 60  # follows the rate unless set


def test_production_turns_its_defaults_off() -> None:
    settings = Settings.from_env({"APP_ENV": "production"})
    assert not (settings.simulated_payments or settings.vault_enabled or settings.admin_allow_kill)
    assert Settings.from_env({"APP_ENV": "production", "ADMIN_ALLOW_KILL": "on"}).admin_allow_kill


def test_secrets_stay_out_of_repr() -> None:
    settings = Settings.from_env({name: value for name, (value, _) in SECRETS.items()})
    assert settings.admin_api_key == "admin_secret_2"  # read, and yet:
    shown = repr(settings)
    assert [secret for _, secret in SECRETS.values() if secret in shown] == []


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("PORT", "eighty", "PORT must be an integer, got 'eighty'"),
        ("PORT", "-1", "PORT must be at least 0"),
        ("MAILBOX_SIZE", "0", "MAILBOX_SIZE must be at least 1"),
        ("ASK_TIMEOUT_SECONDS", "later", "ASK_TIMEOUT_SECONDS must be a number, got 'later'"),
        ("ASK_TIMEOUT_SECONDS", "0", "ASK_TIMEOUT_SECONDS must be greater than 0"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT must be one of json, console, got 'xml'"),
        ("SIMULATED_PAYMENTS", "maybe", "SIMULATED_PAYMENTS must be true or false, got 'maybe'"),
        ("SHOP_URL", "shop.test", "SHOP_URL must be an absolute http(s) URL"),
        ("WEBHOOK_URL", "ftp://x", "WEBHOOK_URL must be an absolute http(s) URL"),
        ("ORDER_URL_TEMPLATE", "https://x/o", "ORDER_URL_TEMPLATE must be an absolute URL with"),
        ("API_KEYS", ",", "API_KEYS is set but names no key"),
        ("PSP_ACCOUNTS", "m1", "PSP_ACCOUNTS entries must look like name:value"),
        ("WEBHOOK_RETRY_SCHEDULE", "1,soon", "WEBHOOK_RETRY_SCHEDULE must be comma-separated"),
        ("WEBHOOK_RETRY_SCHEDULE", "1,-5", "WEBHOOK_RETRY_SCHEDULE must list non-negative"),
        ("WEBHOOK_EVENT_NAMES", "old", "WEBHOOK_EVENT_NAMES must be one of spec, legacy"),
        ("WEBHOOK_API_VERSION", "2020-01-01", "WEBHOOK_API_VERSION must be one of 2025-09-29"),
        ("STRIPE_TOKEN_PLACEMENT", "body", "STRIPE_TOKEN_PLACEMENT must be one of"),
        ("STRIPE_SPT_RISK_CHECK", "sure", "STRIPE_SPT_RISK_CHECK must be true or false"),
    ],
)
def test_a_refusal_names_the_variable(name: str, value: str, reason: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({name: value})
    assert str(refused.value).startswith(reason)


def test_every_refused_variable_is_named_at_once() -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"APP_ENV": "prod", "RATE_LIMIT_PER_MINUTE": "0", "PORT": "x"})
    message = str(refused.value)
    assert all(name in message for name in ("APP_ENV", "RATE_LIMIT_PER_MINUTE", "PORT"))
    assert "RATE_LIMIT_BURST" not in message and "SIMULATED" not in message  # their defaults


def test_keyword_values_are_checked_too() -> None:
    assert Settings(port=1, webhook_legacy_names=True).webhook_legacy_names is True
    with pytest.raises(ValueError, match="mailbox_size"):
        Settings(mailbox_size=0)
    with pytest.raises(ValueError, match="no_such_setting"):
        Settings(no_such_setting=1)

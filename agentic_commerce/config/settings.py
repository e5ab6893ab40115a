"""Settings from the environment, with the embedded defaults that make the server
run with no configuration at all (memory store, demo API key, demo catalog)."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from agentic_commerce.protocol.traits import OLDEST_FIRST

DEMO_API_KEY = "api_key_demo_123"
MIN_SECRET_LENGTH = 24
DEMO_MERCHANT = "merchant_demo"
DEFAULT_CATALOG = Path(__file__).with_name("catalog.json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
APP_ENVS = ("development", "production")  # anything else (`prod`, `staging`) is refused
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# About 1 s, 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 3 h, 6 h, 12 h (jitter is added).
DEFAULT_RETRY_SCHEDULE = (1.0, 5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0, 10800.0, 21600.0, 43200.0)


class SettingsError(ValueError):
    """A setting that cannot be used; the message names the variable."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _url(env: Mapping[str, str], name: str) -> str | None:
    raw = (env.get(name) or "").strip()
    if raw and not raw.startswith(("http://", "https://")):
        raise SettingsError(f"{name} must be an absolute http(s) URL")
    return raw or None


def _schedule(env: Mapping[str, str], name: str) -> tuple[float, ...]:
    """Comma-separated delays in seconds, e.g. `1,5,30`."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return DEFAULT_RETRY_SCHEDULE
    try:
        delays = tuple(float(part) for part in raw.split(","))
    except ValueError:
        raise SettingsError(f"{name} must be comma-separated seconds") from None
    if not delays or any(d < 0 for d in delays):
        raise SettingsError(f"{name} must list non-negative delays")
    return delays


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    """One of `choices` (the first is the default)."""
    raw = (env.get(name) or choices[0]).strip()
    if raw not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}")
    return raw


def _app_env(env: Mapping[str, str]) -> str:
    """`development` or `production`: a typo must not quietly run the demo setup."""
    raw = (env.get("APP_ENV") or APP_ENVS[0]).strip().lower()
    if raw not in APP_ENVS:
        raise SettingsError(f"APP_ENV must be one of {', '.join(APP_ENVS)}, got {raw!r}")
    return raw


def _networks(env: Mapping[str, str], name: str) -> tuple[IPNetwork, ...]:
    """Comma-separated addresses or CIDR networks, e.g. `10.0.0.0/8,192.0.2.7`."""
    try:
        return tuple(
            ipaddress.ip_network(part.strip(), strict=False)
            for part in (env.get(name) or "").split(",")
            if part.strip()
        )
    except ValueError:
        raise SettingsError(f"{name} must list IP addresses or CIDR networks") from None


def parse_pairs(raw: str, name: str) -> dict[str, str]:
    """`a:b,c:d` to {a: b, c: d}; the value is what follows the last colon."""
    pairs: dict[str, str] = {}
    for entry in raw.split(","):
        entry = entry.strip()
        if not entry:
            continue
        key, sep, value = entry.rpartition(":")
        if not sep or not key or not value:
            raise SettingsError(f"{name} entries must look like name:value")
        pairs[key] = value
    return pairs


def parse_api_keys(raw: str) -> dict[str, str]:
    """`key:merchant_id,key2:merchant_id2` to {key: merchant_id}."""
    keys = parse_pairs(raw, "API_KEYS")
    if not keys:
        raise SettingsError("API_KEYS is set but names no key")
    return keys


def _alone(value: str | None) -> list[tuple[str, str]]:
    return [("", value)] if value else []


# APP_ENV=production refuses to start while any row holds; each problem names the setting,
# never its value. Production demands no more than: API_KEYS, REDIS_URL, STRIPE_SECRET_KEY
# (simulated payments are off there by default, and refused when turned on), WEBHOOK_SECRET
# with WEBHOOK_URL, and INTERNAL_SECRET when instances share Redis (INSTANCE_URL is set).
# Opting into the vault (off there by default) demands VAULT_SECRET.
PRODUCTION_RULES: tuple[tuple[Callable[[Settings], bool], str], ...] = (
    (
        lambda s: s.demo_api_key or DEMO_API_KEY in s.api_keys,
        "the demo API key is accepted: set API_KEYS",
    ),
    (
        lambda s: not s.redis_url,
        "REDIS_URL is unset: the memory store loses every session and order at a restart",
    ),
    (
        lambda s: s.simulated_payments,
        "simulated payments are on: set SIMULATED_PAYMENTS=false",
    ),
    (
        lambda s: not s.simulated_payments and not s.stripe_secret_key,
        "STRIPE_SECRET_KEY is unset: no payment could be charged",
    ),
    (
        lambda s: s.vault_enabled and not s.vault_secret,
        "the vault is enabled without VAULT_SECRET",
    ),
    (
        lambda s: bool(s.webhook_url) and not s.webhook_secret,
        "WEBHOOK_URL is set without WEBHOOK_SECRET",
    ),
    (
        lambda s: bool(s.redis_url and s.instance_url) and not s.internal_secret,
        "INTERNAL_SECRET is unset: instances sharing REDIS_URL (INSTANCE_URL) sign their calls",
    ),
)
# Every key and secret set must have at least MIN_SECRET_LENGTH characters in production:
# the setting, and its values each with a label that is not secret (a merchant id).
SECRET_SETTINGS: tuple[tuple[str, Callable[[Settings], list[tuple[str, str]]]], ...] = (
    (
        "API_KEYS",
        lambda s: (
            []
            if s.demo_api_key
            else [(f"the key of merchant {m}", k) for k, m in s.api_keys.items()]
        ),
    ),
    ("ADMIN_API_KEY", lambda s: _alone(s.admin_api_key)),
    ("SIGNATURE_SECRET", lambda s: _alone(s.signature_secret)),
    (
        "MERCHANT_SIGNATURE_SECRETS",
        lambda s: [
            (f"the secret of merchant {m}", v) for m, v in s.merchant_signature_secrets.items()
        ],
    ),
    ("WEBHOOK_SECRET", lambda s: _alone(s.webhook_secret)),
    ("VAULT_SECRET", lambda s: _alone(s.vault_secret)),
    ("INTERNAL_SECRET", lambda s: _alone(s.internal_secret)),
)


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    log_level: str = "INFO"
    log_format: str = "json"
    app_env: str = "development"
    api_keys: dict[str, str] = field(default_factory=lambda: {DEMO_API_KEY: DEMO_MERCHANT})
    demo_api_key: bool = True
    mailbox_size: int = 256
    ask_timeout_seconds: float = 30.0
    payment_timeout_seconds: float = 20.0
    actor_idle_seconds: float = 30.0
    session_ttl_seconds: int = 3600
    expiry_sweep_seconds: float = 5.0
    catalog_file: Path = DEFAULT_CATALOG
    simulated_payments: bool = True
    order_url_template: str = "https://shop.example.com/orders/{order_id}"
    shop_url: str = "https://shop.example.com"
    public_url: str | None = None
    shutdown_timeout_seconds: float = 10.0
    keep_alive_seconds: float = 5.0
    body_timeout_seconds: float = 10.0
    idempotency_ttl_seconds: int = 86400
    three_ds_acquirer_bin: str = "400000"
    three_ds_acquirer_country: str = "US"
    three_ds_acquirer_merchant_id: str = "demo-acquirer-merchant"
    three_ds_merchant_name: str = "Demo Shop"
    three_ds_directory_server: str = "visa"
    stripe_secret_key: str | None = field(default=None, repr=False)
    stripe_api_base: str | None = None
    stripe_api_version: str | None = None
    stripe_token_placement: str = "payment_method_data"
    stripe_risk_check: bool = False
    stripe_max_concurrency: int = 16
    vault_enabled: bool = True
    rate_limit_per_minute: int = 600
    rate_limit_burst: int = 600
    rate_limit_settle_seconds: float = 0.25
    auth_failures_per_minute: int = 10
    trusted_proxies: tuple[IPNetwork, ...] = ()
    signature_secret: str | None = field(default=None, repr=False)
    merchant_signature_secrets: dict[str, str] = field(default_factory=dict, repr=False)
    signature_tolerance_seconds: int = 300
    max_line_items: int = 100
    admin_api_key: str | None = field(default=None, repr=False)
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    webhook_api_version: str | None = None
    webhook_legacy_names: bool = False
    webhook_retry_schedule: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE
    webhook_timeout_seconds: float = 10.0
    webhook_concurrency: int = 8
    webhook_poll_seconds: float = 1.0
    admin_allow_kill: bool = True
    instance_url: str | None = None
    internal_port: int | None = None
    internal_secret: str | None = field(default=None, repr=False)
    lease_ttl_seconds: float = 5.0
    workers: int = 1
    redis_url: str | None = field(default=None, repr=False)
    redis_timeout_seconds: float = 2.0
    redis_pool_size: int = 1
    vault_secret: str | None = field(default=None, repr=False)
    psp_accounts: dict[str, str] = field(default_factory=dict)

    @property
    def production(self) -> bool:
        return self.app_env == "production"

    def production_problems(self) -> list[str]:
        """Why this configuration must not serve production traffic (empty: it may)."""
        problems = [problem for unsafe, problem in PRODUCTION_RULES if unsafe(self)]
        for name, values in SECRET_SETTINGS:
            for label, value in values(self):
                if len(value) < MIN_SECRET_LENGTH:
                    what = f"{name}: {label}" if label else name
                    problems.append(f"{what} is shorter than {MIN_SECRET_LENGTH} characters")
        return problems

    def psp_account(self, merchant_id: str) -> str:
        """The merchant's PSP account id (delegate-payment allowances name it)."""
        return self.psp_accounts.get(merchant_id, merchant_id)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        level = env.get("LOG_LEVEL", "INFO").strip().upper()
        if level not in LOG_LEVELS:
            raise SettingsError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
        log_format = env.get("LOG_FORMAT", "json").strip().lower()
        if log_format not in ("json", "console"):
            raise SettingsError("LOG_FORMAT must be json or console")
        app_env = _app_env(env)
        raw_keys = env.get("API_KEYS", "").strip()
        shop_url = env.get("SHOP_URL", cls.shop_url).rstrip("/")
        if not shop_url.startswith(("http://", "https://")):
            raise SettingsError("SHOP_URL must be an absolute http(s) URL")
        api_keys = parse_api_keys(raw_keys) if raw_keys else {DEMO_API_KEY: DEMO_MERCHANT}
        per_minute = _int(env, "RATE_LIMIT_PER_MINUTE", 600, minimum=1)
        template = env.get("ORDER_URL_TEMPLATE", f"{shop_url}/orders/{{order_id}}")
        if "{order_id}" not in template or not template.startswith(("http://", "https://")):
            raise SettingsError("ORDER_URL_TEMPLATE must be an absolute URL with {order_id}")
        return cls(
            host=env.get("HOST", "127.0.0.1"),
            port=_int(env, "PORT", 8080),
            log_level=level,
            log_format=log_format,
            app_env=app_env,
            api_keys=api_keys,
            demo_api_key=not raw_keys,
            mailbox_size=_int(env, "MAILBOX_SIZE", 256, minimum=1),
            ask_timeout_seconds=_float(env, "ASK_TIMEOUT_SECONDS", 30.0),
            payment_timeout_seconds=_float(env, "PAYMENT_TIMEOUT_SECONDS", 20.0),
            actor_idle_seconds=_float(env, "ACTOR_IDLE_SECONDS", 30.0),
            session_ttl_seconds=_int(env, "SESSION_TTL_SECONDS", 3600, minimum=1),
            expiry_sweep_seconds=_float(env, "EXPIRY_SWEEP_SECONDS", 5.0),
            catalog_file=Path(env.get("CATALOG_FILE") or DEFAULT_CATALOG),
            simulated_payments=_bool(env, "SIMULATED_PAYMENTS", app_env != "production"),
            order_url_template=template,
            shop_url=shop_url,
            public_url=(_url(env, "PUBLIC_URL") or "").rstrip("/") or None,
            shutdown_timeout_seconds=_float(env, "SHUTDOWN_TIMEOUT_SECONDS", 10.0),
            keep_alive_seconds=_float(env, "KEEP_ALIVE_SECONDS", 5.0),
            body_timeout_seconds=_float(env, "BODY_TIMEOUT_SECONDS", 10.0),
            idempotency_ttl_seconds=_int(env, "IDEMPOTENCY_TTL_SECONDS", 86400, minimum=1),
            three_ds_acquirer_bin=env.get("THREE_DS_ACQUIRER_BIN") or cls.three_ds_acquirer_bin,
            three_ds_acquirer_country=env.get("THREE_DS_ACQUIRER_COUNTRY")
            or cls.three_ds_acquirer_country,
            three_ds_acquirer_merchant_id=env.get("THREE_DS_ACQUIRER_MERCHANT_ID")
            or cls.three_ds_acquirer_merchant_id,
            three_ds_merchant_name=env.get("THREE_DS_MERCHANT_NAME") or cls.three_ds_merchant_name,
            three_ds_directory_server=env.get("THREE_DS_DIRECTORY_SERVER")
            or cls.three_ds_directory_server,
            stripe_secret_key=env.get("STRIPE_SECRET_KEY") or None,
            stripe_api_base=env.get("STRIPE_API_BASE") or None,
            stripe_api_version=env.get("STRIPE_API_VERSION") or None,
            stripe_token_placement=_choice(
                env, "STRIPE_TOKEN_PLACEMENT", ("payment_method_data", "top_level")
            ),
            stripe_risk_check=_bool(env, "STRIPE_SPT_RISK_CHECK", False),
            stripe_max_concurrency=_int(env, "STRIPE_MAX_CONCURRENCY", 16, minimum=1),
            vault_enabled=_bool(env, "VAULT_ENABLED", app_env != "production"),
            vault_secret=env.get("VAULT_SECRET") or None,
            rate_limit_per_minute=per_minute,
            rate_limit_burst=_int(env, "RATE_LIMIT_BURST", per_minute, minimum=1),
            rate_limit_settle_seconds=_float(env, "RATE_LIMIT_SETTLE_SECONDS", 0.25),
            auth_failures_per_minute=_int(env, "AUTH_FAILURES_PER_MINUTE", 10, minimum=1),
            trusted_proxies=_networks(env, "TRUSTED_PROXIES"),
            signature_secret=env.get("SIGNATURE_SECRET") or None,
            merchant_signature_secrets=parse_pairs(
                env.get("MERCHANT_SIGNATURE_SECRETS", ""), "MERCHANT_SIGNATURE_SECRETS"
            ),
            signature_tolerance_seconds=_int(env, "SIGNATURE_TOLERANCE_SECONDS", 300, minimum=1),
            max_line_items=_int(env, "MAX_LINE_ITEMS", 100, minimum=1),
            admin_api_key=env.get("ADMIN_API_KEY") or None,
            webhook_url=_url(env, "WEBHOOK_URL"),
            webhook_secret=env.get("WEBHOOK_SECRET") or None,
            webhook_api_version=_choice(env, "WEBHOOK_API_VERSION", ("", *OLDEST_FIRST)) or None,
            webhook_legacy_names=_choice(env, "WEBHOOK_EVENT_NAMES", ("spec", "legacy"))
            == "legacy",
            webhook_retry_schedule=_schedule(env, "WEBHOOK_RETRY_SCHEDULE"),
            webhook_timeout_seconds=_float(env, "WEBHOOK_TIMEOUT_SECONDS", 10.0),
            webhook_concurrency=_int(env, "WEBHOOK_CONCURRENCY", 8, minimum=1),
            webhook_poll_seconds=_float(env, "WEBHOOK_POLL_SECONDS", 1.0),
            admin_allow_kill=_bool(env, "ADMIN_ALLOW_KILL", app_env != "production"),
            instance_url=_url(env, "INSTANCE_URL"),
            internal_port=_int(env, "INTERNAL_PORT", 0) or None,
            internal_secret=env.get("INTERNAL_SECRET") or None,
            lease_ttl_seconds=_float(env, "LEASE_TTL_SECONDS", 5.0),
            workers=_int(env, "WORKERS", 1, minimum=1),
            redis_url=env.get("REDIS_URL") or None,
            redis_timeout_seconds=_float(env, "REDIS_TIMEOUT_SECONDS", 2.0),
            redis_pool_size=_int(env, "REDIS_POOL_SIZE", 1, minimum=1),
            psp_accounts=parse_pairs(env.get("PSP_ACCOUNTS", ""), "PSP_ACCOUNTS"),
        )

"""Settings from the environment, each declared once: its variable, type, default, bounds and
meaning. The defaults make the server run with no configuration at all (memory store, demo API
key, demo catalog); the README's settings table is rendered from these declarations
(`settings_table.py`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, AliasGenerator, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from agentic_commerce.config import production
from agentic_commerce.config.demo import DEFAULT_CATALOG, DEMO_API_KEY, DEMO_MERCHANT
from agentic_commerce.config.env_source import EnvironmentSource, refusal
from agentic_commerce.config.env_types import (
    LOWERCASE,
    STRIPPED,
    UPPERCASE,
    AbsoluteUrl,
    ApiKeys,
    BaseUrl,
    CartUrlTemplate,
    ConsentOptions,
    EnvBool,
    EventNames,
    HostPorts,
    Networks,
    OrderUrlTemplate,
    Pairs,
    Schedule,
    one_of,
)
from agentic_commerce.protocol.feed import valid_country
from agentic_commerce.protocol.traits import OLDEST_FIRST

# About 1 s, 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 3 h, 6 h, 12 h (jitter is added).
DEFAULT_RETRY_SCHEDULE = (1.0, 5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0, 10800.0, 21600.0, 43200.0)
# The key of `json_schema_extra` giving the README's default where the declared one cannot.
SHOWN = "shown_default"


def country_code(code: str) -> str:
    if not valid_country(code):
        raise ValueError(f"must be an ISO 3166-1 alpha-2 country code, got {code!r}")
    return code


class SettingsError(ValueError):
    """A setting that cannot be used; the message names the variable."""


def _off_in_production(data: dict[str, Any]) -> bool:
    """The default of what production must not turn on unasked (it reads the valid APP_ENV)."""
    return bool(data["app_env"] != "production")


class Settings(BaseSettings):
    """Every setting, named as its variable in lower case unless `validation_alias` says
    otherwise. `Settings(...)` takes only the values given (tests build on the defaults);
    `from_env` reads the environment."""

    model_config = SettingsConfigDict(
        frozen=True,
        case_sensitive=True,
        validate_by_name=True,
        alias_generator=AliasGenerator(validation_alias=str.upper),
    )

    host: str = Field("127.0.0.1", description="where to listen: the address")
    port: int = Field(8080, ge=0, description="where to listen: the port")
    log_level: Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], UPPERCASE] = (
        Field("INFO", description="`DEBUG`, `INFO`, `WARNING`, `ERROR` or `CRITICAL`, any case")
    )
    log_format: Annotated[Literal["json", "console"], LOWERCASE] = Field(
        "json", description="`json` lines or `console`"
    )
    app_env: Annotated[Literal["development", "production"], LOWERCASE] = Field(
        "development",
        description="`development` or `production` (anything else is refused): `production` "
        "turns simulated payments and the vault off, and refuses unsafe settings "
        "(see [Security](#security))",
    )
    api_keys: ApiKeys = Field(
        default_factory=lambda: {DEMO_API_KEY: DEMO_MERCHANT},
        repr=False,
        description="`key:merchant_id,key2:merchant_id2` (required in production, each key at "
        "least 24 characters)",
        json_schema_extra={SHOWN: "demo key"},
    )
    psp_accounts: Pairs = Field(
        default_factory=dict,
        description="`merchant_id:psp_account,…`: the PSP account advertised in the card "
        "handler's config and required in vault allowances",
        json_schema_extra={SHOWN: "each merchant's own id"},
    )
    marketing_consent_options: ConsentOptions = Field(
        (),
        description="the marketing channels offered for the buyer's consent (2026-04-17 on): a "
        'JSON list of `{"channel", "display_text", "privacy_policy_url"}`; the consents sent '
        "on complete are kept with the order",
        json_schema_extra={SHOWN: "none"},
    )
    shop_url: BaseUrl = Field("https://shop.example.com", description="base of the policy links")
    order_url_template: OrderUrlTemplate = Field(
        default_factory=lambda data: f"{data['shop_url']}/orders/{{order_id}}",
        description="absolute order permalink",
        json_schema_extra={SHOWN: "`$SHOP_URL/orders/{order_id}`"},
    )
    cart_continue_url_template: CartUrlTemplate = Field(
        default_factory=lambda data: f"{data['shop_url']}/cart/{{cart_id}}",
        description="absolute `continue_url` of a cart (2026-04-17 Cart API)",
        json_schema_extra={SHOWN: "`$SHOP_URL/cart/{cart_id}`"},
    )
    catalog_file: Path = Field(
        DEFAULT_CATALOG,
        description="product catalog JSON",
        json_schema_extra={SHOWN: "demo catalog"},
    )
    promotions_file: Path | None = Field(
        None,
        description='promotions JSON (`{"promotions": [...]}`), instead of the catalog\'s own',
        json_schema_extra={SHOWN: "the catalog's `promotions`"},
    )
    simulated_payments: EnvBool = Field(
        default_factory=_off_in_production,
        description="accept `tok_test_…` tokens",
        json_schema_extra={SHOWN: "`true` (`false` in production)"},
    )
    session_ttl_seconds: int = Field(
        3600, ge=1, description="a session expires this long after creation"
    )
    actor_idle_seconds: float = Field(
        30.0,
        gt=0,
        description="an idle session actor is passivated (its state stays in the store; the "
        "next message or the expiry index wakes it)",
    )
    mailbox_size: int = Field(256, ge=1, description="bound of every actor mailbox")
    ask_timeout_seconds: float = Field(
        30.0, gt=0, description="how long a request waits for its actor"
    )
    payment_timeout_seconds: float = Field(
        20.0, gt=0, description="bound of one call to a payment processor"
    )
    expiry_sweep_seconds: float = Field(
        5.0, gt=0, description="how often the store's expiry index is swept"
    )
    redis_url: str | None = Field(
        None,
        repr=False,
        description="keep all state in Redis (`redis://host:6379/0`; run it with AOF): a "
        "restart loses nothing and instances share state (required in production); optional "
        "with `REDIS_MODE=sentinel`, where it only carries the database number and password",
        json_schema_extra={SHOWN: "unset (memory store)"},
    )
    redis_mode: Annotated[Literal["single", "cluster", "sentinel"], LOWERCASE] = Field(
        "single",
        description="`single` server, `cluster` (`REDIS_URL` names any of its nodes) or "
        "`sentinel` (`REDIS_SENTINELS` find the master `REDIS_SENTINEL_MASTER`)",
    )
    redis_sentinels: HostPorts = Field(
        (), description="`host:port,…` of the sentinels (with `REDIS_MODE=sentinel` only)"
    )
    redis_sentinel_master: str | None = Field(
        None, description="the name the sentinels know the master by (with `sentinel` only)"
    )
    instance_url: AbsoluteUrl | None = Field(
        None,
        description="this instance's internal address for calls forwarded by other instances "
        "(set per instance when several share one Redis; `--workers` sets it)",
    )
    internal_port: Annotated[int | None, Field(ge=0), AfterValidator(lambda p: p or None)] = Field(
        None,
        description="the port this instance also listens on for those forwarded calls "
        "(`--workers` sets it)",
    )
    internal_secret: str | None = Field(
        None,
        repr=False,
        description="signs forwarded calls between instances",
        json_schema_extra={SHOWN: "unset (random per `--workers` group)"},
    )
    workers: int = Field(
        1,
        ge=1,
        description="set by `--workers N` for its worker processes (they bind the port with "
        "SO_REUSEPORT)",
    )
    lease_ttl_seconds: float = Field(
        5.0,
        gt=0,
        description="an instance's registration, renewed every third of it (its sessions' "
        "leases last as long as it does): how long a silent owner can delay its sessions; "
        "also the Idempotency-Key claim",
    )
    redis_timeout_seconds: float = Field(
        2.0,
        gt=0,
        description="bound of every Redis round trip (beyond it: 503 `service_unavailable` "
        "with `Retry-After`, and `/ready` fails)",
    )
    redis_pool_size: int = Field(
        1,
        ge=1,
        description="Redis connections, each carrying one merged pipeline at a time (see "
        "[What a request costs Redis](#several-instances)): more only help a Redis far away "
        "on the network",
    )
    redis_wait_replicas: int = Field(
        0,
        ge=0,
        description="replicas that must have each commit before it is acknowledged (`WAIT`, "
        "at most half of `REDIS_TIMEOUT_SECONDS`; fewer: 503 with `Retry-After`, and the retry "
        "replays it): with Sentinel or a cluster, 1 keeps an acknowledged order through a "
        "failover",
    )
    idempotency_ttl_seconds: int = Field(
        86400, ge=1, description="how long idempotent answers are kept"
    )
    rate_limit_per_minute: int = Field(600, ge=1, description="per-merchant rate limit")
    rate_limit_burst: int = Field(
        default_factory=lambda data: data["rate_limit_per_minute"],
        ge=1,
        description="per-merchant burst",
        json_schema_extra={SHOWN: "= `RATE_LIMIT_PER_MINUTE`"},
    )
    rate_limit_settle_seconds: float = Field(
        0.25,
        gt=0,
        description="how often each instance settles its rate-limit counts with the store "
        "(one round trip); bounds how far instances together can exceed a limit (see "
        "[Security](#security))",
    )
    auth_failures_per_minute: int = Field(
        10,
        ge=1,
        description="failed API or admin keys per client address a minute (and burst) before 429",
    )
    trusted_proxies: Networks = Field(
        (),
        description="comma-separated addresses or CIDR networks of reverse proxies whose "
        "`X-Forwarded-For` names the client",
    )
    signature_secret: str | None = Field(
        None, repr=False, description="require signed requests (all merchants)"
    )
    merchant_signature_secrets: Pairs = Field(
        default_factory=dict,
        repr=False,
        description="`merchant_id:secret,…`: require signed requests (per merchant)",
    )
    signature_tolerance_seconds: int = Field(
        300, ge=1, description="accepted clock skew of `Timestamp`"
    )
    max_line_items: int = Field(100, ge=1, description="items per request")
    vault_enabled: EnvBool = Field(
        default_factory=_off_in_production,
        description="serve `/agentic_commerce/delegate_payment`",
        json_schema_extra={SHOWN: "`true` (`false` in production)"},
    )
    vault_secret: str | None = Field(
        None,
        repr=False,
        description="key of card fingerprints (required in production when the vault is on)",
        json_schema_extra={SHOWN: "random per start"},
    )
    stripe_secret_key: str | None = Field(
        None,
        repr=False,
        description="charge `spt_` tokens with Stripe (required in production)",
    )
    stripe_api_base: str | None = Field(
        None, description="override Stripe's address", json_schema_extra={SHOWN: "Stripe's"}
    )
    stripe_api_version: str | None = Field(
        None, description="pin Stripe's API version", json_schema_extra={SHOWN: "Stripe's"}
    )
    stripe_token_placement: Annotated[Literal["payment_method_data", "top_level"], STRIPPED] = (
        Field(
            "payment_method_data",
            description="`payment_method_data[shared_payment_granted_token]` or `top_level` "
            "`shared_payment_granted_token` (older Stripe API versions)",
        )
    )
    stripe_risk_check: EnvBool = Field(
        False,
        validation_alias="STRIPE_SPT_RISK_CHECK",
        description="retrieve the granted token first; refuse deactivated or risk-blocked tokens",
    )
    stripe_max_concurrency: int = Field(16, ge=1, description="concurrent calls to Stripe")
    webhook_url: AbsoluteUrl | None = Field(None, description="where order events go")
    webhook_secret: str | None = Field(
        None, repr=False, description="the signing key of order events"
    )
    webhook_api_version: Annotated[str, STRIPPED, one_of(OLDEST_FIRST)] | None = Field(
        None,
        description="fix the version of webhook bodies",
        json_schema_extra={SHOWN: "each session's"},
    )
    webhook_legacy_names: EventNames = Field(
        False,
        validation_alias="WEBHOOK_EVENT_NAMES",
        description="`legacy` sends `order_created` / `order_updated`",
        json_schema_extra={SHOWN: "`spec`"},
    )
    webhook_retry_schedule: Schedule = Field(
        DEFAULT_RETRY_SCHEDULE, description="retry delays in seconds, then dead letter"
    )
    webhook_timeout_seconds: float = Field(10.0, gt=0, description="per-attempt timeout")
    webhook_concurrency: int = Field(8, ge=1, description="parallel deliveries")
    webhook_poll_seconds: float = Field(1.0, gt=0, description="outbox poll")
    feed_push_url: BaseUrl | None = Field(
        None,
        description="keep a product feed on an agent platform in step with the catalog: the "
        "base of its Feed API (`POST {base}/feeds`, `PATCH {base}/feeds/{id}/products`; see "
        "[Product feeds](#product-feeds))",
        json_schema_extra={SHOWN: "unset (no push)"},
    )
    feed_push_api_key: str | None = Field(
        None,
        repr=False,
        description="the platform's key, sent as `Authorization: Bearer` (required with "
        "`FEED_PUSH_URL`)",
    )
    feed_push_target_country: Annotated[str, UPPERCASE, AfterValidator(country_code)] | None = (
        Field(None, description="the pushed feed's market (ISO 3166-1 alpha-2, e.g. `US`)")
    )
    feed_push_interval_seconds: float = Field(
        5.0,
        gt=0,
        description="how often changed products are pushed (changes in between go out "
        "together); also the first retry delay, doubled after each failure up to 5 minutes",
    )
    feed_push_batch_size: int = Field(100, ge=1, description="products per upsert request")
    feed_push_timeout_seconds: float = Field(10.0, gt=0, description="per-request timeout")
    admin_api_key: str | None = Field(None, repr=False, description="enables the admin API")
    admin_allow_kill: EnvBool = Field(
        default_factory=_off_in_production,
        description="allow `POST /admin/actors/{id}/kill`",
        json_schema_extra={SHOWN: "`true` (`false` in production)"},
    )
    public_url: BaseUrl | None = Field(
        None,
        description="`api_base_url` of the discovery document",
        json_schema_extra={SHOWN: "the request's host"},
    )
    shutdown_timeout_seconds: float = Field(10.0, gt=0, description="bound of a graceful stop")
    keep_alive_seconds: float = Field(
        5.0,
        gt=0,
        description="an idle keep-alive connection (or one still sending its request head) is "
        "closed after this",
    )
    body_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="a request body must arrive in full this soon after the request head, "
        "else 408 `request_timeout` and the connection closes",
    )
    three_ds_acquirer_bin: str = Field(
        "400000",
        description="`acquirer_bin` in the `authentication_metadata` of sessions awaiting "
        "3-D Secure",
    )
    three_ds_acquirer_country: str = Field(
        "US",
        description="`acquirer_country` in the `authentication_metadata` of sessions awaiting "
        "3-D Secure",
    )
    three_ds_acquirer_merchant_id: str = Field(
        "demo-acquirer-merchant",
        description="`acquirer_merchant_id` in the `authentication_metadata` of sessions awaiting "
        "3-D Secure",
    )
    three_ds_merchant_name: str = Field(
        "Demo Shop",
        description="`merchant_name` in the `authentication_metadata` of sessions awaiting "
        "3-D Secure",
    )
    three_ds_directory_server: str = Field(
        "visa",
        description="`directory_server` in the `authentication_metadata` of sessions awaiting "
        "3-D Secure",
    )

    @model_validator(mode="after")
    def check_redis_mode(self) -> Self:
        """What each REDIS_MODE needs, and no sentinel settings it would ignore."""
        if self.redis_mode == "cluster" and not self.redis_url:
            raise ValueError("REDIS_MODE=cluster needs REDIS_URL (the address of any node)")
        sentinel = {
            "REDIS_SENTINELS": self.redis_sentinels,
            "REDIS_SENTINEL_MASTER": self.redis_sentinel_master,
        }
        if self.redis_mode == "sentinel":
            if missing := [name for name, value in sentinel.items() if not value]:
                raise ValueError("REDIS_MODE=sentinel needs " + " and ".join(missing))
        elif given := [name for name, value in sentinel.items() if value]:
            names = " and ".join(given)
            raise ValueError(
                f"REDIS_MODE={self.redis_mode} would ignore {names}: set it to sentinel"
            )
        return self

    @model_validator(mode="after")
    def check_feed_push(self) -> Self:
        if self.feed_push_url and not self.feed_push_api_key:
            raise ValueError("FEED_PUSH_URL needs FEED_PUSH_API_KEY (the platform's key)")
        return self

    @property
    def production(self) -> bool:
        return self.app_env == "production"

    @property
    def demo_api_key(self) -> bool:
        """API_KEYS was not given, so the demo key is accepted."""
        return "api_keys" not in self.model_fields_set

    @property
    def uses_redis(self) -> bool:
        """State lives in Redis: at REDIS_URL, or wherever the sentinels say."""
        return self.redis_url is not None or self.redis_mode == "sentinel"

    def production_problems(self) -> list[str]:
        """Why this configuration must not serve production traffic (empty: it may)."""
        return production.problems(self)

    def psp_account(self, merchant_id: str) -> str:
        """The merchant's PSP account id (delegate-payment allowances name it)."""
        return self.psp_accounts.get(merchant_id, merchant_id)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The values given only: `from_env` is what reads an environment (no .env file)."""
        return (init_settings,)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings `env` sets (the process environment when None), the rest defaults."""
        try:
            return cls(**EnvironmentSource(cls, os.environ if env is None else env)())
        except ValidationError as exc:
            raise SettingsError(refusal(exc, cls.model_fields)) from None

"""What APP_ENV=production refuses to start with; each problem names the setting, never its value.

Production demands no more than: API_KEYS, Redis (REDIS_URL, or REDIS_MODE=sentinel),
STRIPE_SECRET_KEY (simulated payments are off there by default, and refused when turned on),
WEBHOOK_SECRET with WEBHOOK_URL, and INTERNAL_SECRET when instances share Redis (INSTANCE_URL is
set). Opting into the vault (off there by default) demands VAULT_SECRET. These rules weigh the
whole configuration, so they are listed, not raised while the settings are read: the supervisor
refuses to start on them, and any settings (development ones too) can be asked about them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from agentic_commerce.config.demo import DEMO_API_KEY

if TYPE_CHECKING:
    from agentic_commerce.config.settings import Settings

MIN_SECRET_LENGTH = 24

RULES: tuple[tuple[Callable[[Settings], bool], str], ...] = (
    (
        lambda s: s.demo_api_key or DEMO_API_KEY in s.api_keys,
        "the demo API key is accepted: set API_KEYS",
    ),
    (
        lambda s: not s.uses_redis,
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
        lambda s: s.uses_redis and bool(s.instance_url) and not s.internal_secret,
        "INTERNAL_SECRET is unset: instances sharing REDIS_URL (INSTANCE_URL) sign their calls",
    ),
)


def _alone(value: str | None) -> list[tuple[str, str]]:
    return [("", value)] if value else []


# Every key and secret set must have at least MIN_SECRET_LENGTH characters in production:
# the setting, and its values each with a label that is not secret (a merchant id).
SECRETS: tuple[tuple[str, Callable[[Settings], list[tuple[str, str]]]], ...] = (
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


def problems(settings: Settings) -> list[str]:
    """Why `settings` must not serve production traffic (empty: they may)."""
    found = [problem for unsafe, problem in RULES if unsafe(settings)]
    for name, values in SECRETS:
        for label, value in values(settings):
            if len(value) < MIN_SECRET_LENGTH:
                what = f"{name}: {label}" if label else name
                found.append(f"{what} is shorter than {MIN_SECRET_LENGTH} characters")
    return found

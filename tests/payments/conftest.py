"""The real stripe client against the fake Stripe server, one fresh fake per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from agentic_commerce.domain.commands import PaymentCredential
from agentic_commerce.payments.base import ChargeRequest, order_id_for
from agentic_commerce.payments.stripe_spt import StripeProcessor
from tests.fakes.stripe_server import FakeStripe, running_fake_stripe

SECRET = "sk_test_fake_secret_51Hx"
TOKEN = "spt_1SecretTokenValue0001"
API_VERSION = "2026-04-22.preview"
SESSION = "cs_test_0001"


def charge_request(
    token: str = TOKEN,
    session_id: str = SESSION,
    amount: int = 2599,
    currency: str = "usd",
    **extra: Any,
) -> ChargeRequest:
    return ChargeRequest(
        credential=PaymentCredential(token, "card_tokenized"),
        amount=amount,
        currency=currency,
        session_id=session_id,
        merchant_id="merchant_demo",
        order_id=order_id_for(session_id, token),
        **extra,
    )


@pytest.fixture
async def fake_stripe() -> AsyncIterator[FakeStripe]:
    async with running_fake_stripe() as fake:
        yield fake


MakeProcessor = Callable[..., StripeProcessor]


@pytest.fixture
async def make_processor(fake_stripe: FakeStripe) -> AsyncIterator[MakeProcessor]:
    """Builds processors aimed at the fake (closed at teardown, before the fake stops)."""
    made: list[StripeProcessor] = []

    def make(**options: Any) -> StripeProcessor:
        options.setdefault("api_base", fake_stripe.url)
        options.setdefault("api_version", API_VERSION)
        processor = StripeProcessor(options.pop("secret_key", SECRET), **options)
        made.append(processor)
        return processor

    yield make
    for processor in made:
        await processor.close()


@pytest.fixture
def processor(make_processor: MakeProcessor) -> StripeProcessor:
    return make_processor()

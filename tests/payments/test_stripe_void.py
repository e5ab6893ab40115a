"""The Stripe processor and a PaymentIntent waiting for 3-D Secure: it is confirmed
only with a successful authentication result, and `void` cancels it, telling
apart canceled (now or before), charged meanwhile, and unknown (Stripe down)."""

from __future__ import annotations

from typing import Any

import pytest

from agentic_commerce.domain.model import Payment
from agentic_commerce.payments.base import (
    Charged,
    Declined,
    NeedsAuthentication,
    NotVoided,
    PaymentUnavailable,
    Voided,
)
from agentic_commerce.payments.stripe_spt import StripeProcessor
from tests.fakes.stripe_server import FakeStripe
from tests.payments.conftest import TOKEN, charge_request

DETAILS = {
    "three_ds_cryptogram": "ABCDEFGHIJKLMNOPQRSTUVWX==",
    "electronic_commerce_indicator": "05",
    "transaction_id": "dsTransId_12345",
    "version": "2.2.0",
}
AUTHENTICATED = {"outcome": "authenticated", "outcome_details": DETAILS}


async def waiting_intent(processor: StripeProcessor, fake: FakeStripe) -> str:
    fake.outcomes[TOKEN] = "requires_action"
    outcome = await processor.charge(charge_request(can_authenticate=True))
    assert isinstance(outcome, NeedsAuthentication)
    return outcome.reference


async def test_owns_payment_intents_only(processor: StripeProcessor) -> None:
    assert processor.owns("pi_123")
    assert not processor.owns("sim_pi_123")
    assert not processor.owns("spt_123")


@pytest.mark.parametrize(
    "outcome",
    ["denied", "rejected", "informational", "abandoned", "canceled", "internal_error"],
)
async def test_a_failed_result_is_refused_without_a_call(
    processor: StripeProcessor, fake_stripe: FakeStripe, outcome: str
) -> None:
    intent_id = await waiting_intent(processor, fake_stripe)
    calls = len(fake_stripe.requests)
    result: dict[str, Any] = {"outcome": outcome, "outcome_details": DETAILS}

    answer = await processor.charge(charge_request(pending=intent_id, authentication=result))

    assert isinstance(answer, Declined)
    assert answer.reason == "authentication_failed"
    assert len(fake_stripe.requests) == calls
    assert fake_stripe.intents[intent_id]["status"] == "requires_action"


async def test_void_cancels_the_intent_once(
    processor: StripeProcessor, fake_stripe: FakeStripe
) -> None:
    intent_id = await waiting_intent(processor, fake_stripe)

    assert await processor.void(intent_id) == Voided()
    assert await processor.void(intent_id) == Voided()  # replayed under the same key

    cancels = fake_stripe.cancels()
    assert [c.path for c in cancels] == [f"/v1/payment_intents/{intent_id}/cancel"] * 2
    assert {c.idempotency_key for c in cancels} == {f"acp-void-{intent_id}"}
    assert cancels[0].params == {"cancellation_reason": "abandoned"}
    assert fake_stripe.intents[intent_id]["status"] == "canceled"


async def test_an_intent_canceled_before_is_voided(
    processor: StripeProcessor, fake_stripe: FakeStripe
) -> None:
    intent_id = await waiting_intent(processor, fake_stripe)
    fake_stripe.intents[intent_id]["status"] = "canceled"  # e.g. from the dashboard
    assert await processor.void(intent_id) == Voided()
    assert fake_stripe.calls("GET", f"/v1/payment_intents/{intent_id}")


async def test_an_unknown_intent_is_voided(processor: StripeProcessor) -> None:
    assert await processor.void("pi_not_on_this_account") == Voided()


async def test_an_intent_charged_meanwhile_is_not_voided(
    processor: StripeProcessor, fake_stripe: FakeStripe
) -> None:
    intent_id = await waiting_intent(processor, fake_stripe)
    fake_stripe.intents[intent_id]["status"] = "succeeded"  # a confirm whose answer was lost
    assert await processor.void(intent_id) == NotVoided("payment_intent_succeeded")


async def test_stripe_down_leaves_the_void_undecided(
    processor: StripeProcessor, fake_stripe: FakeStripe
) -> None:
    intent_id = await waiting_intent(processor, fake_stripe)
    fake_stripe.faults = ["500", "500", "500"]  # outlasts the stripe client's two retries
    with pytest.raises(PaymentUnavailable):
        await processor.void(intent_id)
    assert fake_stripe.intents[intent_id]["status"] == "requires_action"


async def test_a_voided_intent_is_never_confirmed(
    processor: StripeProcessor, fake_stripe: FakeStripe
) -> None:
    intent_id = await waiting_intent(processor, fake_stripe)
    await processor.void(intent_id)

    answer = await processor.charge(charge_request(pending=intent_id, authentication=AUTHENTICATED))

    assert isinstance(answer, Declined)
    assert answer.reason == "payment_voided"
    assert fake_stripe.intents[intent_id]["status"] == "canceled"
    assert fake_stripe.succeeded() == []


async def test_an_intent_confirmed_before_is_found_charged(
    processor: StripeProcessor, fake_stripe: FakeStripe
) -> None:
    """The confirm reached Stripe but its answer was lost; the retry, with another
    result (another key), finds the intent succeeded: charged, once."""
    intent_id = await waiting_intent(processor, fake_stripe)
    fake_stripe.intents[intent_id]["status"] = "succeeded"
    retry = {"outcome": "attempt_acknowledged", "outcome_details": DETAILS}

    answer = await processor.charge(charge_request(pending=intent_id, authentication=retry))

    assert answer == Charged(Payment("stripe", intent_id, 2599, "usd"))


async def test_an_intent_confirmed_before_for_another_amount_is_not_taken(
    processor: StripeProcessor, fake_stripe: FakeStripe
) -> None:
    intent_id = await waiting_intent(processor, fake_stripe)
    fake_stripe.intents[intent_id]["status"] = "succeeded"
    answer = await processor.charge(
        charge_request(amount=9999, pending=intent_id, authentication=AUTHENTICATED)
    )
    assert isinstance(answer, Declined)

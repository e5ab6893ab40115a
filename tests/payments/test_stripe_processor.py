"""The Stripe SPT processor, with the real stripe client talking HTTP to the fake."""

from __future__ import annotations

import logging
import re
import socket
import time
from typing import Any

import pytest
import structlog
import trio

from agentic_commerce.domain.commands import PaymentCredential
from agentic_commerce.domain.model import Payment
from agentic_commerce.payments.base import (
    Charged,
    Declined,
    NeedsAuthentication,
    PaymentOutcome,
    PaymentUnavailable,
    Processor,
)
from agentic_commerce.payments.stripe_spt import (
    GENERIC_DECLINE,
    MISCONFIGURED,
    TOKEN_AMOUNT,
    TOKEN_EXPIRED,
    TOKEN_REUSED,
    TOKEN_USED,
    UNAVAILABLE,
    StripeProcessor,
)
from agentic_commerce.payments.stripe_unconfigured import NOT_CONFIGURED, StripeNotConfigured
from tests.fakes.stripe_server import FakeStripe
from tests.payments.conftest import (
    API_VERSION,
    SECRET,
    SESSION,
    TOKEN,
    MakeProcessor,
    charge_request,
)

AUTHENTICATION = {
    "outcome": "authenticated",
    "outcome_details": {
        "three_ds_cryptogram": "ABCDEFGHIJKLMNOPQRSTUVWX==",
        "electronic_commerce_indicator": "05",
        "transaction_id": "dsTransId_12345",
        "version": "2.2.0",
    },
}


async def test_accepts_only_spt_tokens(processor: StripeProcessor) -> None:
    assert processor.accepts(PaymentCredential("spt_abc", "stripe"))
    assert not processor.accepts(PaymentCredential("tok_test_ok", "stripe"))
    assert not processor.accepts(PaymentCredential("vt_abc", "card_tokenized"))


def test_token_placement_is_checked() -> None:
    with pytest.raises(ValueError, match="token_placement"):
        StripeProcessor(SECRET, token_placement="nested")


@pytest.mark.parametrize("placement", ["payment_method_data", "top_level"])
async def test_success_is_one_confirmed_payment_intent(
    make_processor: MakeProcessor, fake_stripe: FakeStripe, placement: str
) -> None:
    processor = make_processor(token_placement=placement)
    request = charge_request()
    outcome = await processor.charge(request)

    (intent,) = fake_stripe.intents.values()
    assert outcome == Charged(Payment("stripe", intent["id"], 2599, "usd"))
    (sent,) = fake_stripe.requests
    assert (sent.method, sent.path) == ("POST", "/v1/payment_intents")
    params = dict(sent.params)
    if placement == "top_level":
        assert params.pop("shared_payment_granted_token") == TOKEN
    else:
        assert params.pop("payment_method_data") == {"shared_payment_granted_token": TOKEN}
    assert params == {
        "amount": "2599",
        "currency": "usd",
        "confirm": "true",
        "metadata": {
            "checkout_session_id": SESSION,
            "order_id": request.order_id,
            "merchant_id": "merchant_demo",
        },
    }
    assert re.fullmatch(rf"acp-complete-{SESSION}-[0-9a-f]{{16}}", sent.idempotency_key or "")
    assert sent.idempotency_key == request.idempotency_key
    assert sent.stripe_version == API_VERSION
    assert sent.headers["authorization"] == f"Bearer {SECRET}"
    assert fake_stripe.tokens[TOKEN]["deactivated_reason"] == "consumed"


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        ("requires_capture", "charged"),
        ("requires_payment_method", Declined("generic_decline", GENERIC_DECLINE)),
    ],
)
async def test_status_mapping(
    processor: StripeProcessor, fake_stripe: FakeStripe, outcome: str, expected: object
) -> None:
    fake_stripe.outcomes[TOKEN] = outcome
    result = await processor.charge(charge_request())
    if expected == "charged":
        assert isinstance(result, Charged)
    else:
        assert result == expected


async def test_processing_is_looked_at_again(
    processor: StripeProcessor, fake_stripe: FakeStripe
) -> None:
    fake_stripe.outcomes[TOKEN] = "processing"
    outcome = await processor.charge(charge_request())
    assert isinstance(outcome, Charged)
    assert len(fake_stripe.calls("GET", "/v1/payment_intents/*")) == 1


@pytest.mark.parametrize(
    ("decline_code", "message"),
    [
        ("generic_decline", "The card was declined."),
        ("insufficient_funds", "The card has insufficient funds."),
        ("stolen_card", "The card was declined."),  # fraud reasons are not revealed
    ],
)
async def test_card_decline_is_declined_with_a_safe_message(
    processor: StripeProcessor, fake_stripe: FakeStripe, decline_code: str, message: str
) -> None:
    fake_stripe.outcomes[TOKEN] = f"decline:{decline_code}"
    outcome = await processor.charge(charge_request())
    assert outcome == Declined(decline_code, message, "payment_declined")
    assert fake_stripe.requests[0].status == 402


async def test_3ds_then_confirm_with_the_authentication_result(
    processor: StripeProcessor, fake_stripe: FakeStripe
) -> None:
    fake_stripe.outcomes[TOKEN] = "requires_action"
    first = await processor.charge(charge_request(can_authenticate=True))
    (intent,) = fake_stripe.intents.values()
    assert first == NeedsAuthentication(intent["id"])

    request = charge_request(pending=intent["id"], authentication=AUTHENTICATION)
    second = await processor.charge(request)

    assert second == Charged(Payment("stripe", intent["id"], 2599, "usd"))
    (confirm,) = fake_stripe.calls("POST", f"/v1/payment_intents/{intent['id']}/confirm")
    assert confirm.params == {
        "payment_method_options": {
            "card": {
                "three_d_secure": {
                    "cryptogram": "ABCDEFGHIJKLMNOPQRSTUVWX==",
                    "electronic_commerce_indicator": "05",
                    "transaction_id": "dsTransId_12345",
                    "version": "2.2.0",
                    "ares_trans_status": "Y",
                }
            }
        }
    }
    assert confirm.idempotency_key == f"{request.idempotency_key}-3ds"
    assert len(fake_stripe.creates()) == 1


@pytest.mark.parametrize("token", ["spt_../../v1/payment_intents", "spt_", "spt_a b"])
async def test_malformed_token_is_refused_without_a_call(
    make_processor: MakeProcessor, fake_stripe: FakeStripe, token: str
) -> None:
    outcome = await make_processor(risk_check=True).charge(charge_request(token=token))
    assert isinstance(outcome, Declined)
    assert (outcome.reason, outcome.code) == ("malformed_token", "invalid")
    assert fake_stripe.requests == []


async def test_incomplete_3ds_result_is_refused_without_a_call(
    processor: StripeProcessor, fake_stripe: FakeStripe
) -> None:
    incomplete = {"outcome": "authenticated", "outcome_details": {"version": "2.2.0"}}
    outcome = await processor.charge(charge_request(pending="pi_x", authentication=incomplete))
    assert isinstance(outcome, Declined)
    assert outcome.code == "invalid"
    assert fake_stripe.requests == []


async def test_a_500_is_retried_by_the_client_with_the_same_key(
    processor: StripeProcessor, fake_stripe: FakeStripe
) -> None:
    fake_stripe.faults = ["500"]
    outcome = await processor.charge(charge_request())
    assert isinstance(outcome, Charged)
    attempts = fake_stripe.creates()
    assert [a.status for a in attempts] == [500, 200]
    assert len({a.idempotency_key for a in attempts}) == 1
    assert len(fake_stripe.intents) == 1


async def test_the_callers_retry_after_repeated_500s_reaches_the_same_payment_intent(
    processor: StripeProcessor, fake_stripe: FakeStripe
) -> None:
    fake_stripe.faults = ["500", "500", "500"]  # the first try and both client retries
    with pytest.raises(PaymentUnavailable) as unavailable:
        await processor.charge(charge_request())
    assert str(unavailable.value) == UNAVAILABLE

    charged = await processor.charge(charge_request())  # the agent completes again
    replayed = await processor.charge(charge_request())  # and once more

    assert isinstance(charged, Charged)
    assert replayed == charged
    attempts = fake_stripe.creates()
    assert [a.status for a in attempts] == [500, 500, 500, 200, 200]
    assert len({a.idempotency_key for a in attempts}) == 1
    assert len(fake_stripe.intents) == 1


async def test_same_token_for_another_amount_is_refused(
    processor: StripeProcessor, fake_stripe: FakeStripe
) -> None:
    assert isinstance(await processor.charge(charge_request(amount=2599)), Charged)
    outcome = await processor.charge(charge_request(amount=3100))
    assert outcome == Declined("token_reused", TOKEN_REUSED, "invalid")
    assert len(fake_stripe.intents) == 1


async def test_a_new_token_after_a_decline_gets_a_new_payment_intent(
    processor: StripeProcessor, fake_stripe: FakeStripe
) -> None:
    fake_stripe.outcomes[TOKEN] = "decline:generic_decline"
    assert isinstance(await processor.charge(charge_request()), Declined)
    assert isinstance(await processor.charge(charge_request(token="spt_second_token")), Charged)
    keys = {r.idempotency_key for r in fake_stripe.creates()}
    assert len(keys) == 2
    assert len(fake_stripe.succeeded()) == 1


async def test_concurrent_calls_are_bounded(
    make_processor: MakeProcessor, fake_stripe: FakeStripe
) -> None:
    processor = make_processor(max_concurrency=2)
    fake_stripe.gate = trio.Event()
    outcomes: list[PaymentOutcome] = []

    async def pay(index: int) -> None:
        request = charge_request(token=f"spt_token_{index}", session_id=f"cs_{index}")
        outcomes.append(await processor.charge(request))

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            for index in range(6):
                nursery.start_soon(pay, index)
            await fake_stripe.wait_in_flight(2)
            stats = processor.limiter.statistics()
            assert (stats.borrowed_tokens, stats.tasks_waiting) == (2, 4)
            assert len(fake_stripe.requests) == 2
            fake_stripe.gate.set()
    assert all(isinstance(o, Charged) for o in outcomes)
    assert len(fake_stripe.succeeded()) == 6
    assert fake_stripe.max_in_flight == 2


async def test_timeout_is_unavailable(
    make_processor: MakeProcessor, fake_stripe: FakeStripe
) -> None:
    processor = make_processor(request_timeout=0.2)
    fake_stripe.faults = ["hold", "hold", "hold"]
    with trio.fail_after(15), pytest.raises(PaymentUnavailable):
        await processor.charge(charge_request())
    attempts = fake_stripe.creates()
    assert len(attempts) == 3
    assert len({a.idempotency_key for a in attempts}) == 1


async def test_connection_refused_is_unavailable(make_processor: MakeProcessor) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nobody listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    processor = make_processor(api_base=f"http://127.0.0.1:{port}", max_network_retries=0)
    with pytest.raises(PaymentUnavailable) as unavailable:
        await processor.charge(charge_request())
    assert str(unavailable.value) == UNAVAILABLE


async def test_rate_limit_is_unavailable(
    processor: StripeProcessor, fake_stripe: FakeStripe
) -> None:
    fake_stripe.faults = ["429"]
    with pytest.raises(PaymentUnavailable):
        await processor.charge(charge_request())


@pytest.mark.parametrize(
    ("reason", "message"), [("expired", TOKEN_EXPIRED), ("consumed", TOKEN_USED)]
)
async def test_deactivated_token_is_invalid(
    processor: StripeProcessor, fake_stripe: FakeStripe, reason: str, message: str
) -> None:
    fake_stripe.deactivate(TOKEN, reason)
    outcome = await processor.charge(charge_request())
    assert outcome == Declined(f"shared_payment_granted_token_{reason}", message, "invalid")
    assert fake_stripe.intents == {}


async def test_amount_over_the_token_limit_is_invalid(
    processor: StripeProcessor, fake_stripe: FakeStripe
) -> None:
    fake_stripe.grant(TOKEN, max_amount=1000)
    outcome = await processor.charge(charge_request(amount=2599))
    assert outcome == Declined("amount_too_large", TOKEN_AMOUNT, "invalid")


async def test_placement_the_account_does_not_know_is_a_configuration_error(
    make_processor: MakeProcessor, fake_stripe: FakeStripe
) -> None:
    fake_stripe.accepted_placement = "top_level"
    processor = make_processor(token_placement="payment_method_data")
    with pytest.raises(PaymentUnavailable) as unavailable:
        await processor.charge(charge_request())
    assert str(unavailable.value) == MISCONFIGURED


async def test_rejected_secret_key_is_a_configuration_error(make_processor: MakeProcessor) -> None:
    processor = make_processor(secret_key="rk_live_revoked_key_0001")
    with pytest.raises(PaymentUnavailable) as unavailable:
        await processor.charge(charge_request())
    assert str(unavailable.value) == MISCONFIGURED


class TestRiskCheck:
    async def test_deactivated_token_is_declined_before_charging(
        self, make_processor: MakeProcessor, fake_stripe: FakeStripe
    ) -> None:
        fake_stripe.deactivate(TOKEN, "revoked")
        outcome = await make_processor(risk_check=True).charge(charge_request())
        assert outcome == Declined("token_revoked", TOKEN_USED, "invalid")
        (lookup,) = fake_stripe.requests
        assert (lookup.method, lookup.path) == (
            "GET",
            f"/v1/shared_payment/granted_tokens/{TOKEN}",
        )
        assert fake_stripe.creates() == []

    async def test_blocking_risk_details_decline(
        self, make_processor: MakeProcessor, fake_stripe: FakeStripe
    ) -> None:
        fake_stripe.grant(
            TOKEN,
            risk_details={"insights": {"fraudulent_dispute": {"recommended_action": "block"}}},
        )
        outcome = await make_processor(risk_check=True).charge(charge_request())
        assert isinstance(outcome, Declined)
        assert (outcome.reason, outcome.code) == ("token_risk_blocked", "payment_declined")
        assert fake_stripe.creates() == []

    @pytest.mark.parametrize(
        ("limits", "reason"),
        [
            ({"max_amount": 1000}, "token_over_limit"),
            ({"currency": "eur"}, "token_currency_mismatch"),
            ({"expires_at": 1}, "token_expired"),
        ],
    )
    async def test_usage_limits_are_checked(
        self,
        make_processor: MakeProcessor,
        fake_stripe: FakeStripe,
        limits: dict[str, Any],
        reason: str,
    ) -> None:
        fake_stripe.grant(TOKEN, **limits)
        outcome = await make_processor(risk_check=True).charge(charge_request())
        assert isinstance(outcome, Declined)
        assert (outcome.reason, outcome.code) == (reason, "invalid")

    async def test_usable_token_is_charged(
        self, make_processor: MakeProcessor, fake_stripe: FakeStripe
    ) -> None:
        fake_stripe.grant(TOKEN, max_amount=5000, expires_at=int(time.time()) + 600)
        outcome = await make_processor(risk_check=True).charge(charge_request())
        assert isinstance(outcome, Charged)
        assert [(r.method, r.path) for r in fake_stripe.requests] == [
            ("GET", f"/v1/shared_payment/granted_tokens/{TOKEN}"),
            ("POST", "/v1/payment_intents"),
        ]

    async def test_unknown_token_is_invalid(
        self, make_processor: MakeProcessor, fake_stripe: FakeStripe
    ) -> None:
        outcome = await make_processor(risk_check=True).charge(charge_request())
        assert isinstance(outcome, Declined)
        assert (outcome.reason, outcome.code) == ("resource_missing", "invalid")


async def test_no_secret_reaches_a_message_or_a_log(
    make_processor: MakeProcessor,
    fake_stripe: FakeStripe,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every path that can fail, with every logger at DEBUG: neither the token nor
    the secret key appears in an outcome, an exception or a log line."""
    caplog.set_level(logging.DEBUG)
    checked = make_processor(risk_check=True, request_timeout=0.2, max_network_retries=0)
    plain = make_processor(max_network_retries=0)
    texts: list[str] = []

    async def run(processor: Processor, token: str = TOKEN) -> None:
        try:
            outcome: PaymentOutcome = await processor.charge(charge_request(token=token))
            texts.append(repr(outcome))
        except PaymentUnavailable as exc:
            texts.extend([str(exc), repr(exc), repr(exc.__cause__), repr(exc.__context__)])

    with structlog.testing.capture_logs() as events:
        await run(checked, "spt_unknown_to_stripe_0001")  # 404 quoting the token
        fake_stripe.outcomes[TOKEN] = "decline:insufficient_funds"
        await run(plain)
        fake_stripe.outcomes[TOKEN] = "requires_action"
        await run(plain, "spt_3ds_token_0001")
        fake_stripe.deactivate("spt_expired_token_0001", "expired")  # 400 quoting the token
        await run(plain, "spt_expired_token_0001")
        await run(checked, "spt_expired_token_0001")
        fake_stripe.faults = ["500"]
        await run(plain, "spt_unlucky_token_0001")
        fake_stripe.faults = ["hold"]
        await run(checked, "spt_held_token_0001")
        await run(StripeNotConfigured())
        await run(make_processor(secret_key="rk_live_rejected_key_0001"))

    captured = capsys.readouterr()
    everything = "\n".join([*texts, caplog.text, repr(events), captured.out, captured.err])
    assert "Request to Stripe api" in caplog.text  # the stripe logger was captured
    assert "spt_[redacted]" in caplog.text  # and its token-bearing lines were masked
    for secret in (SECRET, "rk_live_rejected_key_0001"):
        assert secret not in everything
    assert re.search(r"spt_(?!\[redacted\])", everything) is None, "a token leaked"
    assert NOT_CONFIGURED in everything


async def test_not_configured_declines_spt_tokens() -> None:
    processor = StripeNotConfigured()
    assert processor.accepts(PaymentCredential(TOKEN, "stripe"))
    assert not processor.accepts(PaymentCredential("tok_test_ok", "stripe"))
    outcome = await processor.charge(charge_request())
    assert outcome == Declined("stripe_not_configured", NOT_CONFIGURED)

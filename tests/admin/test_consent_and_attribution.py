"""Marketing consent and affiliate attribution: the merchant's channels offered in a
2026-04-17 session, the buyer's consents and both touchpoints kept with the order for
operators, an attribution never echoed to the agent nor logged, an expired one kept
but flagged."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentic_commerce.domain.checkout import received, take_completion_details
from agentic_commerce.domain.commands import CompleteSession, PaymentCredential
from agentic_commerce.domain.model import Attribution, MarketingConsent, Session
from tests.admin.conftest import NEW, admin_app
from tests.http.conftest import address_update, create_body, payment
from tests.store.test_contract import session

OPTIONS = (
    ("email", "Offers and launches by email", "https://shop.example.com/privacy"),
    ("sms", "Flash sales by text message", "https://shop.example.com/privacy"),
)
TOKEN = "atk_secret_7c1f0b"
FIRST = {
    "provider": "impact.com",
    "token": TOKEN,
    "campaign_id": "spring",
    "source": {"type": "url", "url": "https://blog.example.com/review"},
    "expires_at": "2099-01-01T00:00:00Z",
}
LAST = {"provider": "impact.com", "publisher_id": "pub_42", "expires_at": "2020-01-01T00:00:00Z"}


def offered(body: dict[str, Any]) -> list[dict[str, Any]]:
    return list(body["marketing_consent_options"])


async def test_consents_and_attributions_reach_the_order_and_only_operators(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with admin_app(marketing_consent_options=OPTIONS) as admin:
        body = create_body(NEW, affiliate_attribution=FIRST, **address_update(NEW))
        created = await admin.acp.create(body)
        assert created.status == 201
        assert TOKEN not in str(created.body) and "affiliate_attribution" not in created.body
        assert offered(created.body) == [
            {"channel": channel, "display_text": text, "privacy_policy_url": policy}
            for channel, text, policy in OPTIONS
        ]
        consents = [{"channel": "email", "opted_in": True}, {"channel": "sms", "opted_in": False}]
        paying = {**payment(NEW), "affiliate_attribution": LAST, "marketing_consents": consents}
        done = await admin.acp.complete(created.body["id"], paying)
        assert done.body["status"] == "completed"
        assert [o.get("is_subscribed") for o in offered(done.body)] == [True, False]
        assert "pub_42" not in str(done.body)

        status, order = await admin.get(f"/admin/orders/{done.body['order']['id']}")
        assert status == 200
        operator = order["operator"]
        assert operator["marketing_consents"] == consents
        first, last = (operator["affiliate_attribution"][t] for t in ("first", "last"))
        assert first["campaign_id"] == "spring" and first["token_sent"] is True
        assert first["expired"] is False and last["expired"] is True  # kept, but flagged
        assert last["publisher_id"] == "pub_42" and last["token_sent"] is False
        assert TOKEN not in str(order)
    assert TOKEN not in caplog.text


async def test_a_version_before_2026_04_17_offers_no_consent() -> None:
    async with admin_app(marketing_consent_options=OPTIONS) as admin:
        created = await admin.acp.using("2026-01-30").create(create_body("2026-01-30"))
        assert created.status == 201
        assert "marketing_consent_options" not in created.body


async def test_an_attribution_sent_with_an_earlier_version_is_kept_too() -> None:
    async with admin_app() as admin:
        old = admin.acp.using("2025-12-12")
        created = await old.create(create_body("2025-12-12", affiliate_attribution=FIRST))
        sid = str(created.body["id"])
        await old.update(sid, address_update("2025-12-12"))
        done = await old.complete(sid, payment("2025-12-12"))
        assert done.body["status"] == "completed"
        _, order = await admin.get(f"/admin/orders/{done.body['order']['id']}")
        assert set(order["operator"]["affiliate_attribution"]) == {"first"}


NOW = datetime(2026, 6, 1, tzinfo=UTC)
channels = st.sampled_from(["email", "sms", "push"])
consent_lists = st.none() | st.lists(
    st.builds(MarketingConsent, channels, st.booleans()), max_size=3
).map(tuple)
touches = st.none() | st.builds(
    Attribution, st.just("last"), st.just("p"), st.fixed_dictionaries({"provider": st.just("p")})
)


@given(st.lists(st.tuples(consent_lists, touches), min_size=1, max_size=4))
def test_completes_keep_the_first_touch_and_the_latest_of_the_rest(
    completes: list[tuple[tuple[MarketingConsent, ...] | None, Attribution | None]],
) -> None:
    """Over any sequence of (retried) completes: the create's first touch stays, the
    last is the latest sent, and consents are the latest sent (none sent: kept)."""
    first = received(Attribution("first", "p", {"provider": "p"}), NOW)
    session = session_with(first)
    for consents, last in completes:
        cmd = CompleteSession(
            PaymentCredential("t", "h"), marketing_consents=consents, attribution=last
        )
        session = take_completion_details(session, cmd, NOW)
    assert session.attributions[0] == first
    lasts = [a for _, a in completes if a is not None]
    assert [a.touchpoint for a in session.attributions] == ["first"] + (["last"] if lasts else [])
    sent = [c for c, _ in completes if c is not None]
    assert session.marketing_consents == (sent[-1] if sent else ())


def session_with(first: Attribution) -> Session:
    return replace(session("cs_1"), attributions=(first,))

"""The Delegate Authentication API's wire shapes (2026-04-17 only, the one release
that has it): request models mirroring `schema.delegate_authentication.json`, and
the session rendered as `DelegateAuthenticationSession` (create, authenticate) or
`DelegateAuthenticationSessionWithResult` (retrieve)."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from agentic_commerce.domain import delegate_authentication as auth
from agentic_commerce.protocol.base import JSON
from agentic_commerce.protocol.delegate_payment import Address
from agentic_commerce.protocol.strictness import Strict

VERSION = "2026-04-17"


class AcquirerDetails(Strict):
    acquirer_bin: str = Field(max_length=11)
    acquirer_country: str = Field(min_length=2, max_length=2)
    acquirer_merchant_id: str = Field(max_length=35)
    merchant_name: str = Field(max_length=40)
    requestor_id: str | None = Field(default=None, max_length=35)


class PaymentMethod(Strict):
    type: Literal["card"]
    number: str
    exp_month: str = Field(max_length=2)
    exp_year: str = Field(max_length=4)
    name: str


class Amount(Strict):
    value: int
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class BrowserInfo(Strict):
    accept_header: str
    ip_address: str = Field(max_length=45)
    javascript_enabled: bool
    language: str = Field(max_length=35)
    user_agent: str
    color_depth: int | None = None
    java_enabled: bool | None = None
    screen_height: int | None = None
    screen_width: int | None = None
    timezone_offset: int | None = None

    @model_validator(mode="after")
    def _screen_with_javascript(self) -> Self:
        """The screen fields are required when JavaScript is enabled (the schema's if/then)."""
        screen = (
            self.color_depth,
            self.java_enabled,
            self.screen_height,
            self.screen_width,
            self.timezone_offset,
        )
        if self.javascript_enabled and None in screen:
            raise ValueError("with javascript_enabled, send the screen and timezone fields")
        return self


class Channel(Strict):
    type: Literal["browser"]
    browser: BrowserInfo


class ChallengePreference(Strict):
    type: Literal["mandated", "preferred"] | None = None


class FrictionlessPreference(Strict):
    pass


class FlowPreference(Strict):
    type: Literal["challenge", "frictionless"]
    challenge: ChallengePreference | None = None
    frictionless: FrictionlessPreference | None = None


class ShopperDetails(Strict):
    name: str | None = None
    email: str | None = None
    phone_number: str | None = None
    address: Address | None = None


class CreateRequest(Strict):
    merchant_id: str
    acquirer_details: AcquirerDetails | None = None
    payment_method: PaymentMethod
    amount: Amount
    channel: Channel | None = None
    checkout_session_id: str | None = None
    flow_preference: FlowPreference | None = None
    challenge_notification_url: str | None = None
    shopper_details: ShopperDetails | None = None


class AuthenticateRequest(Strict):
    fingerprint_completion: Literal["Y", "N", "U"]
    channel: Channel | None = None
    checkout_session_id: str | None = None
    challenge_notification_url: str | None = None
    shopper_details: ShopperDetails | None = None


def render_session(session: auth.AuthenticationSession) -> JSON:
    """`DelegateAuthenticationSession`: the status and the browser action it asks for.
    A challenged session is shown asking for its challenge (see `domain` rules)."""
    if session.challenged:
        return {
            "authentication_session_id": session.id,
            "status": "action_required",
            "action": {
                "type": "challenge",
                "challenge": {
                    "acs_url": auth.ACS_URL,
                    "acs_trans_id": session.acs_trans_id,
                    "three_ds_server_trans_id": session.three_ds_server_trans_id,
                    "message_version": auth.VERSION,
                },
            },
        }
    body: JSON = {"authentication_session_id": session.id, "status": session.status}
    if session.status == "action_required":
        body["action"] = {
            "type": "fingerprint",
            "fingerprint": {
                "three_ds_method_url": auth.METHOD_URL,
                "three_ds_server_trans_id": session.three_ds_server_trans_id,
            },
        }
    return body


def render_with_result(session: auth.AuthenticationSession) -> JSON:
    """`DelegateAuthenticationSessionWithResult`: the state now, with the result once
    there is one (a challenge is over by then: the sandbox ACS approves it)."""
    if session.result is None:
        return render_session(session)
    result = session.result
    rendered: JSON = {
        "trans_status": result.trans_status,
        "electronic_commerce_indicator": result.electronic_commerce_indicator,
        "transaction_id": result.transaction_id,
        "three_ds_server_trans_id": result.three_ds_server_trans_id,
        "version": auth.VERSION,
    }
    if result.three_ds_cryptogram is not None:
        rendered["three_ds_cryptogram"] = result.three_ds_cryptogram
        rendered["authentication_value"] = result.three_ds_cryptogram
    if result.trans_status_reason is not None:
        rendered["trans_status_reason"] = result.trans_status_reason
        rendered["cardholder_info"] = "Please contact your bank's customer support."
    return {
        "authentication_session_id": session.id,
        "status": session.status,
        "authentication_result": rendered,
    }

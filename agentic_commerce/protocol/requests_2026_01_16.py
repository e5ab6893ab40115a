"""Request bodies of API version 2026-01-16: those of 2025-12-12
(`requests_2025_12_12`) except the 3-D Secure `authentication_result`, whose
outcomes are its own (`authenticated|failed|unavailable|rejected|attempt`), whose
ECI is free text and whose details are optional whatever the outcome."""

from __future__ import annotations

from typing import Literal

from agentic_commerce.protocol import requests_2025_09_29
from agentic_commerce.protocol.requests_2026_01_30 import AffiliateAttribution
from agentic_commerce.protocol.strictness import Strict


class OutcomeDetails(Strict):
    three_ds_cryptogram: str
    electronic_commerce_indicator: str
    transaction_id: str
    version: str


class AuthenticationResult(Strict):
    outcome: Literal["authenticated", "failed", "unavailable", "rejected", "attempt"]
    outcome_details: OutcomeDetails | None = None


class CompleteRequest(requests_2025_09_29.CompleteRequest):
    authentication_result: AuthenticationResult | None = None
    affiliate_attribution: AffiliateAttribution | None = None

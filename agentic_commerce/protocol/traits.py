"""What differs between the released ACP versions, one row per version.

Rules (each version's own JSON Schema wins over its OpenAPI and over SUMMARY.md):
1. Every released version has a row, oldest first; a version is served when it has
   a codec (`protocol/versions.py`), and the codec of a version reads its row
   instead of comparing version strings.
2. Requests: `items` (with a quantity) or `line_items` (quantity extension);
   `fulfillment_address` or `fulfillment_details`; the shipping selection as
   `fulfillment_option_id`, nested `{type, shipping: {option_id, item_ids}}` or flat
   `{type, option_id, item_ids}`; whether create requires `currency` and
   `capabilities`.
3. Responses: `payment_provider` or `capabilities.payment.handlers`; flat money fields
   or `totals[]` on line items and fulfillment options (2026-01-16: `totals[]` on
   fulfillment options only, `money="option_totals"`); the statuses a version
   knows (others are shown as their nearest, `SHOWN_AS`); the message error codes
   it knows (others become `invalid`); the order statuses it knows (others are
   mapped, `ORDER_STATUS_AS`, or left out); whether every answer about a completed
   session has its `order` or only the complete answer (`order_in_session`).
4. 3-D Secure exists from 2025-12-12: `authentication_required`, its metadata, and
   the agent's `authentication_result`. Where a version has no
   `capabilities.interventions`, its agents are taken as able to authenticate.
5. Idempotency: the key is required only where the version's OpenAPI says so; a
   request without one is then not deduplicated. A reused key with another body
   gets the version's conflict status (409 before 2026-04-17, 422 from it); only
   2026-04-17 marks replays with `Idempotent-Replayed`.
6. Webhooks: before 2026-04-17 an event carries the order's summary (status and
   refunds, `webhook_order="summary"`); from it, the whole Order.
"""

from __future__ import annotations

from dataclasses import dataclass

STATUSES_2025 = frozenset(
    {"not_ready_for_payment", "ready_for_payment", "completed", "canceled", "in_progress"}
)
STATUSES_3DS = STATUSES_2025 | {"authentication_required"}
STATUSES_2026 = STATUSES_3DS | {
    "incomplete",
    "requires_escalation",
    "pending_approval",
    "complete_in_progress",
    "expired",
}
ERROR_CODES_2025 = frozenset(
    {"missing", "invalid", "out_of_stock", "payment_declined", "requires_sign_in", "requires_3ds"}
)
ERROR_CODES_2026 = ERROR_CODES_2025 | {
    "low_stock",
    "quantity_exceeded",
    "coupon_invalid",
    "coupon_expired",
    "minimum_not_met",
    "maximum_exceeded",
    "region_restricted",
    "age_verification_required",
    "approval_required",
    "unsupported",
    "not_found",
    "conflict",
    "rate_limited",
    "expired",
    "intervention_required",
}
# A status a version lacks is shown as this one (with an info message where it matters).
SHOWN_AS = {
    "expired": "canceled",
    "complete_in_progress": "in_progress",
    "authentication_required": "not_ready_for_payment",
}


@dataclass(frozen=True, slots=True)
class Traits:
    version: str
    items: str  # "items" (with quantity) | "line_items"
    fulfillment: str  # "fulfillment_address" | "fulfillment_details"
    selection: str  # "option_id" | "nested" | "flat"
    payment: str  # "payment_provider" | "handlers"
    money: str  # "flat" | "option_totals" | "totals"
    create_requires_currency: bool
    three_ds: bool
    statuses: frozenset[str]
    error_codes: frozenset[str]
    order_statuses: frozenset[str] | None  # None: the order has no status field
    idempotency_key_required: bool
    conflict_status: int
    marks_replays: bool
    webhook_order: str  # "summary" (status and refunds) | "full" (the Order)
    # False: only the complete answer (CheckoutSessionWithOrder) has `order`, as the
    # session's base schema has none (2025-09-29).
    order_in_session: bool = True
    carts: bool = False  # the Cart API (`/carts`) exists in this version


VERSIONS: tuple[Traits, ...] = (
    Traits(
        "2025-09-29", "items", "fulfillment_address", "option_id", "payment_provider", "flat",
        create_requires_currency=False, three_ds=False, statuses=STATUSES_2025,
        error_codes=ERROR_CODES_2025, order_statuses=None,
        idempotency_key_required=False, conflict_status=409, marks_replays=False,
        webhook_order="summary", order_in_session=False,
    ),
    Traits(
        "2025-12-12", "items", "fulfillment_details", "nested", "payment_provider", "flat",
        create_requires_currency=False, three_ds=True, statuses=STATUSES_3DS,
        error_codes=ERROR_CODES_2025, order_statuses=None,
        idempotency_key_required=False, conflict_status=409, marks_replays=False,
        webhook_order="summary",
    ),
    Traits(
        "2026-01-16", "items", "fulfillment_details", "nested", "payment_provider",
        "option_totals",
        create_requires_currency=False, three_ds=True, statuses=STATUSES_3DS,
        error_codes=ERROR_CODES_2025, order_statuses=None,
        idempotency_key_required=False, conflict_status=409, marks_replays=False,
        webhook_order="summary",
    ),
    Traits(
        "2026-01-30", "line_items", "fulfillment_details", "flat", "handlers", "totals",
        create_requires_currency=True, three_ds=True, statuses=STATUSES_2026,
        error_codes=ERROR_CODES_2026,
        order_statuses=frozenset({"confirmed", "processing", "shipped", "delivered"}),
        idempotency_key_required=False, conflict_status=409, marks_replays=False,
        webhook_order="summary",
    ),
    Traits(
        "2026-04-17", "line_items", "fulfillment_details", "flat", "handlers", "totals",
        create_requires_currency=True, three_ds=True, statuses=STATUSES_2026,
        error_codes=ERROR_CODES_2026, order_statuses=frozenset(),  # open: any of ours
        idempotency_key_required=True, conflict_status=422, marks_replays=True,
        webhook_order="full", carts=True,
    ),
)  # fmt: skip
BY_VERSION = {row.version: row for row in VERSIONS}
OLDEST_FIRST = tuple(row.version for row in VERSIONS)
# Our order statuses as 2026-01-30's closed enum knows them (others are left out).
ORDER_STATUS_AS = {"confirmed": "confirmed", "shipped": "shipped", "completed": "delivered"}

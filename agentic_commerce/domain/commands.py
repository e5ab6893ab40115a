"""Version-neutral commands: what a codec makes of a request body.

Update commands keep "absent" (leave unchanged) apart from `None` (clear) with
the `UNSET` marker, as the spec's null-versus-absent rule requires.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any, Final, TypeAlias, TypeVar

from agentic_commerce.domain.model import Attribution, Buyer, FulfillmentDetails, MarketingConsent


class _Unset(Enum):
    UNSET = "unset"


UNSET: Final = _Unset.UNSET
_T = TypeVar("_T")
Maybe: TypeAlias = _T | _Unset


@dataclass(frozen=True, slots=True)
class LineInput:
    product_id: str
    quantity: Decimal
    param: str  # JSONPath of the item in the request, for error reports


@dataclass(frozen=True, slots=True)
class FulfillmentChoice:
    """A selected fulfillment option; `item_ids` may name line ids or product ids.

    `param` is the JSONPath of the selection in the request (for error reports);
    `type` is None when the version does not say (2025-09-29).
    """

    option_id: str
    param: str
    type: str | None = None
    item_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CreateSession:
    currency: str | None  # None: the merchant's currency (2025-09-29 does not send one)
    lines: tuple[LineInput, ...]
    buyer: Buyer | None = None
    fulfillment: FulfillmentDetails | None = None
    fulfillment_choices: tuple[FulfillmentChoice, ...] = ()
    interventions: tuple[str, ...] = ()
    locale: str | None = None
    timezone: str | None = None
    quote_id: str | None = None
    metadata: dict[str, Any] | None = None
    order_notes: str | None = None
    attribution: Attribution | None = None
    extensions: tuple[str, ...] = ()  # the ACP extensions the agent understands
    discount_codes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class UpdateSession:
    buyer: Maybe[Buyer | None] = UNSET
    lines: Maybe[tuple[LineInput, ...]] = UNSET
    fulfillment: Maybe[FulfillmentDetails | None] = UNSET
    fulfillment_choices: Maybe[tuple[FulfillmentChoice, ...] | None] = UNSET
    order_notes: Maybe[str | None] = UNSET
    discount_codes: Maybe[tuple[str, ...]] = UNSET  # replaces the earlier codes


@dataclass(frozen=True, slots=True)
class PaymentCredential:
    """A payment token and how it was presented (`handler`: provider or handler id).

    `repr` hides the token so that it cannot reach a log by accident.
    """

    token: str
    handler: str

    def __repr__(self) -> str:
        return f"PaymentCredential(handler={self.handler!r}, token=<redacted>)"


@dataclass(frozen=True, slots=True)
class CompleteSession:
    payment: PaymentCredential
    buyer: Maybe[Buyer] = UNSET
    authentication_result: dict[str, Any] | None = None
    order_notes: str | None = None
    attribution: Attribution | None = None
    marketing_consents: tuple[MarketingConsent, ...] | None = None  # None: not sent


@dataclass(frozen=True, slots=True)
class CancelSession:
    reason_code: str | None = None


Command: TypeAlias = CreateSession | UpdateSession | CompleteSession | CancelSession

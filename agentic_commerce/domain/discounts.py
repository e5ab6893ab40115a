"""Merchant promotions and what they take off a checkout (pure: the discount extension).

A promotion is a coupon code, or automatic (no code). The rules, in the order
they are applied:

1. Candidates: the automatic promotions (in the merchant's order), then the
   submitted codes (in the agent's order; case-insensitive). Codes count only when
   the session negotiated the `discount` extension; otherwise each is refused.
2. Each candidate passes `CHECKS` top to bottom; the first rule it fails rejects
   it with that rule's reason. A rejected automatic promotion is silently left out.
3. The survivors are applied by `priority` (1 first; ties keep candidate order),
   each on the amounts the earlier ones left (stacking). A promotion that is not
   `combinable` is refused beside any other applied one.
4. `each` takes its amount from every eligible line on its own (a percentage of
   the line, or `amount_off` per line, never more than the line has left); `across`
   takes one amount off the eligible lines together (a percentage of their sum,
   or `amount_off`) and spreads it over them in proportion (`allocate`).
5. Money is integer minor units; percentages round half up. No line ever goes
   below zero, and the same inputs always give the same result.

`each` amounts are the lines' own discounts (`items_discount`); `across` amounts
are the order discount (`discount`), their per-line shares kept only so that
tax is computed on what the buyer pays.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agentic_commerce.domain.money import percent_of

EXTENSION = "discount"
EXTENSION_VERSION = "2026-01-27"  # of the discount extension's schema
USAGE_PREFIX = "promotion:"  # stock key of a promotion's uses (no product id may start so)
MAX_CODES = 20
MAX_CODE_LENGTH = 64


@dataclass(frozen=True, slots=True)
class Promotion:
    """One promotion as the merchant configured it (amounts in minor units)."""

    id: str
    name: str
    code: str | None  # None: automatic
    percent_off: Decimal | None = None
    amount_off: int | None = None
    currency: str | None = None  # of `amount_off` and `minimum_subtotal`
    method: Literal["each", "across"] = "across"
    priority: int = 1
    minimum_subtotal: int = 0
    product_ids: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    start: datetime | None = None
    end: datetime | None = None
    usage_limit: int | None = None
    combinable: bool = True

    @property
    def automatic(self) -> bool:
        return self.code is None

    @property
    def usage_key(self) -> str:
        return f"{USAGE_PREFIX}{self.id}"

    def targets(self, target: Target) -> bool:
        """Whether the promotion applies to a line (no restriction: every line)."""
        if not self.product_ids and not self.categories:
            return True
        return target.product_id in self.product_ids or target.category in self.categories


@dataclass(frozen=True, slots=True)
class Target:
    """A priced line as promotions see it: its product and its amount before discounts."""

    product_id: str
    category: str | None
    base: int


@dataclass(frozen=True, slots=True)
class Applied:
    """A promotion applied: its amount on each line (in line order; 0 where it took nothing)."""

    promotion: Promotion
    code: str | None  # as the agent sent it
    shares: tuple[int, ...]

    @property
    def amount(self) -> int:
        return sum(self.shares)


@dataclass(frozen=True, slots=True)
class Rejected:
    code: str  # as the agent sent it
    index: int  # in the submitted codes
    reason: str  # one of the schema's discount_error_codes
    message: str


@dataclass(frozen=True, slots=True)
class Discounts:
    applied: tuple[Applied, ...] = ()
    rejected: tuple[Rejected, ...] = ()

    @property
    def uses(self) -> dict[str, int]:
        """The uses to hold when the order is about to be placed: one of each applied
        promotion that has a usage limit, by its stock key."""
        return {a.promotion.usage_key: 1 for a in self.applied if a.promotion.usage_limit}

    def per_line(self, method: str, lines: int) -> tuple[int, ...]:
        """What the applied promotions of one method take off each line."""
        totals = [0] * lines
        for applied in self.applied:
            if applied.promotion.method == method:
                for index, share in enumerate(applied.shares):
                    totals[index] += share
        return tuple(totals)


NO_DISCOUNTS = Discounts()


@dataclass(frozen=True, slots=True)
class Candidate:
    """A promotion asked for (by a code, or automatically), with what the checks need."""

    promotion: Promotion | None  # None: the code names no promotion
    code: str | None
    index: int  # position among the submitted codes (-1: automatic)
    first_use: bool  # False when an earlier code named the same promotion
    codes_allowed: bool
    currency: str
    now: datetime
    exhausted: frozenset[str]  # promotion ids whose uses are all taken
    targets: tuple[Target, ...]

    @property
    def subtotal(self) -> int:
        return sum(t.base for t in self.targets)


@dataclass(frozen=True, slots=True)
class Check:
    reason: str
    fails: Callable[[Candidate], bool]
    message: Callable[[Candidate], str]


def _day(moment: datetime | None) -> str:
    return moment.date().isoformat() if moment is not None else ""


def _money(amount: int, currency: str) -> str:
    return f"{Decimal(amount) / 100:.2f} {currency.upper()}"


def _ended(moment: datetime | None, now: datetime, *, default: bool = False) -> bool:
    """Whether `moment` has come (`default` when there is none)."""
    return default if moment is None else now >= moment


def _promotion(c: Candidate) -> Promotion:
    assert c.promotion is not None  # CHECKS rules out codes without one first
    return c.promotion


# The rules a candidate must pass, top to bottom (the first failed one rejects it).
CHECKS: tuple[Check, ...] = (
    Check(
        "discount_code_invalid",
        lambda c: not c.codes_allowed,
        lambda c: (
            f"Code '{c.code}' was not applied: discount codes need the discount "
            'extension (list "discount" in capabilities.extensions when creating the session).'
        ),
    ),
    Check(
        "discount_code_invalid",
        lambda c: c.promotion is None,
        lambda c: f"Code '{c.code}' is not a valid discount code.",
    ),
    Check(
        "discount_code_already_applied",
        lambda c: not c.first_use,
        lambda c: f"Code '{c.code}' is already applied.",
    ),
    Check(
        "discount_code_expired",
        lambda c: _ended(_promotion(c).end, c.now),
        lambda c: f"Code '{c.code}' expired on {_day(_promotion(c).end)}.",
    ),
    Check(
        "discount_code_expired",
        lambda c: not _ended(_promotion(c).start, c.now, default=True),
        lambda c: f"Code '{c.code}' is not valid before {_day(_promotion(c).start)}.",
    ),
    Check(
        "discount_code_invalid",
        lambda c: _promotion(c).currency not in (None, c.currency),
        lambda c: (
            f"Code '{c.code}' applies only to orders in {(_promotion(c).currency or '').upper()}."
        ),
    ),
    Check(
        "discount_code_usage_limit_reached",
        lambda c: _promotion(c).id in c.exhausted,
        lambda c: f"Code '{c.code}' has reached its usage limit.",
    ),
    Check(
        "discount_code_minimum_not_met",
        lambda c: c.subtotal < _promotion(c).minimum_subtotal,
        lambda c: (
            f"Code '{c.code}' needs an order of at least "
            f"{_money(_promotion(c).minimum_subtotal, c.currency)}."
        ),
    ),
    Check(
        "discount_code_minimum_not_met",
        lambda c: not any(_promotion(c).targets(t) and t.base > 0 for t in c.targets),
        lambda c: f"Code '{c.code}' applies to none of the items in this checkout.",
    ),
)
COMBINATION = "discount_code_combination_disallowed"


def allocate(amount: int, weights: Sequence[int]) -> tuple[int, ...]:
    """`amount` spread over `weights` in proportion, each share at most its weight.

    Shares are rounded down; the remainder goes to the largest weight first (ties:
    the earlier), then the next largest, never beyond a weight. Needs
    `0 <= amount <= sum(weights)`.
    """
    whole = sum(weights)
    if amount <= 0 or whole <= 0:
        return tuple(0 for _ in weights)
    shares = [amount * w // whole for w in weights]
    remainder = amount - sum(shares)
    for index in sorted(range(len(weights)), key=lambda i: (-weights[i], i)):
        if remainder <= 0:
            break
        take = min(remainder, weights[index] - shares[index])
        shares[index] += take
        remainder -= take
    return tuple(shares)


def _take(promotion: Promotion, left: Sequence[int], eligible: Sequence[bool]) -> tuple[int, ...]:
    """What one promotion takes off each line, given what the lines have left."""
    if promotion.method == "each":
        return tuple(
            (
                min(left_, percent_of(left_, promotion.percent_off))
                if promotion.percent_off is not None
                else min(left_, promotion.amount_off or 0)
            )
            if ok
            else 0
            for left_, ok in zip(left, eligible, strict=True)
        )
    weights = [left_ if ok else 0 for left_, ok in zip(left, eligible, strict=True)]
    pool = sum(weights)
    if promotion.percent_off is not None:
        amount = min(pool, percent_of(pool, promotion.percent_off))
    else:
        amount = min(pool, promotion.amount_off or 0)
    return allocate(amount, weights)


def _candidates(
    promotions: Sequence[Promotion],
    codes: Sequence[str],
    codes_allowed: bool,
    base: Mapping[str, Any],
) -> list[Candidate]:
    by_code = {p.code.casefold(): p for p in promotions if p.code is not None}
    found: list[Candidate] = [
        Candidate(p, None, -1, True, True, **base) for p in promotions if p.automatic
    ]
    seen: set[str] = set()
    for index, code in enumerate(codes):
        promotion = by_code.get(code.casefold())
        first = promotion is None or promotion.id not in seen
        if promotion is not None:
            seen.add(promotion.id)
        found.append(Candidate(promotion, code, index, first, codes_allowed, **base))
    return found


def may_apply(promotions: Sequence[Promotion], codes: Sequence[str]) -> bool:
    """Whether anything can come of `apply`: a code was sent (applied or refused), or
    a promotion is automatic."""
    return bool(codes) or any(p.automatic for p in promotions)


def apply(
    promotions: Sequence[Promotion],
    codes: Sequence[str],
    targets: Sequence[Target],
    *,
    currency: str,
    now: datetime,
    codes_allowed: bool,
    exhausted: Iterable[str] = (),
) -> Discounts:
    """The promotions that apply to these lines, and the codes refused (see the rules above)."""
    base = {
        "currency": currency,
        "now": now,
        "exhausted": frozenset(exhausted),
        "targets": tuple(targets),
    }
    rejected: list[Rejected] = []
    passing: list[Candidate] = []
    for candidate in _candidates(promotions, codes, codes_allowed, base):
        failed = next((check for check in CHECKS if check.fails(candidate)), None)
        if failed is None:
            passing.append(candidate)
        elif candidate.code is not None:
            rejected.append(
                Rejected(candidate.code, candidate.index, failed.reason, failed.message(candidate))
            )
    left = [t.base for t in targets]
    applied: list[Applied] = []
    for candidate in sorted(passing, key=lambda c: _promotion(c).priority):
        promotion = _promotion(candidate)
        if applied and (
            not promotion.combinable or not all(a.promotion.combinable for a in applied)
        ):
            if candidate.code is not None:
                message = f"Code '{candidate.code}' cannot be combined with the other discounts."
                rejected.append(Rejected(candidate.code, candidate.index, COMBINATION, message))
            continue
        shares = _take(promotion, left, [promotion.targets(t) for t in targets])
        left = [a - b for a, b in zip(left, shares, strict=True)]
        applied.append(Applied(promotion, candidate.code, shares))
    return Discounts(tuple(applied), tuple(sorted(rejected, key=lambda r: r.index)))


def promotion_of(stock_key: str) -> str | None:
    """The promotion id a stock key holds the uses of (None: a product)."""
    return stock_key.removeprefix(USAGE_PREFIX) if stock_key.startswith(USAGE_PREFIX) else None


def negotiated(requested: Iterable[str]) -> bool:
    """Whether the agent asked for this discount extension (its name, or name@version)."""
    return any(name in (EXTENSION, f"{EXTENSION}@{EXTENSION_VERSION}") for name in requested)


# -- the merchant's promotions file --------------------------------------------------


class _Entry(BaseModel):
    """One promotion in the catalog (or promotions) file; unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", strict=False)

    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1)
    code: str | None = Field(default=None, min_length=1, max_length=MAX_CODE_LENGTH)
    percent_off: Decimal | None = Field(default=None, gt=0, le=100)
    amount_off: int | None = Field(default=None, gt=0)
    currency: str | None = Field(default=None, pattern="^[A-Za-z]{3}$")
    method: Literal["each", "across"] = "across"
    priority: int = Field(default=1, ge=1)
    minimum_subtotal: int = Field(default=0, ge=0)
    product_ids: list[str] = []
    categories: list[str] = []
    start: datetime | None = None
    end: datetime | None = None
    usage_limit: int | None = Field(default=None, ge=1)
    combinable: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> _Entry:
        if (self.percent_off is None) == (self.amount_off is None):
            raise ValueError("give exactly one of percent_off and amount_off")
        if self.amount_off is not None and self.currency is None:
            raise ValueError("amount_off needs a currency")
        for moment in (self.start, self.end):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("start and end need a UTC offset")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        return self


def promotions_from_document(entries: object, product_ids: Iterable[str]) -> tuple[Promotion, ...]:
    """Promotions from a JSON list; raises ValueError naming the first bad entry."""
    if not isinstance(entries, list):
        raise ValueError("promotions must be a list")
    known = set(product_ids)
    promotions: dict[str, Promotion] = {}
    codes: set[str] = set()
    for position, raw in enumerate(entries):
        try:
            entry = _Entry.model_validate(raw)
        except ValidationError as exc:
            problem = exc.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(p) for p in problem["loc"])
            raise ValueError(f"promotion {position}: {where} {problem['msg']}") from None
        if entry.id in promotions:
            raise ValueError(f"duplicate promotion id {entry.id}")
        if entry.code is not None:
            if entry.code.casefold() in codes:
                raise ValueError(f"duplicate promotion code {entry.code}")
            codes.add(entry.code.casefold())
        if unknown := set(entry.product_ids) - known:
            raise ValueError(f"promotion {entry.id}: unknown products {sorted(unknown)}")
        promotions[entry.id] = Promotion(
            id=entry.id,
            name=entry.name,
            code=entry.code,
            percent_off=entry.percent_off,
            amount_off=entry.amount_off,
            currency=entry.currency.lower() if entry.currency else None,
            method=entry.method,
            priority=entry.priority,
            minimum_subtotal=entry.minimum_subtotal,
            product_ids=frozenset(entry.product_ids),
            categories=frozenset(entry.categories),
            start=entry.start,
            end=entry.end,
            usage_limit=entry.usage_limit,
            combinable=entry.combinable,
        )
    return tuple(promotions.values())

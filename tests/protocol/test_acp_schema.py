"""The ACP JSON Schema harness (tests/acp_schema.py).

1. Every example of the vendored spec validates against the definition it illustrates,
   except the ones known to be defective upstream, which must fail for exactly the
   documented reason (so a fixed example, or a new failure, is noticed).
2. The harness really rejects bad bodies: additional properties, enums, integer
   amounts, and the uri / email / date-time formats.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from tests import acp_schema

OLD, NEW = "2025-09-29", "2026-04-17"
JAN30 = "2026-01-30"
DEC12, JAN16 = "2025-12-12", "2026-01-16"


@cache
def _examples(version: str, name: str) -> dict[str, Any]:
    path = acp_schema.spec_dir() / version / "examples" / f"examples.{name}.json"
    loaded: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return loaded


def example(version: str, key: str, name: str = "agentic_checkout") -> Any:
    """A deep copy of one example body, safe to mutate."""
    return copy.deepcopy(_examples(version, name)[key])


# --------------------------------------------------------------------------- 1. examples

# Which $defs entry each example of examples.agentic_checkout.json illustrates.  A key may
# name a member ("data" of a webhook event) when only that part has a definition.
CHECKOUT_EXAMPLES: dict[str, dict[str, tuple[str, str | None]]] = {
    OLD: {
        "create_checkout_session_request": ("CheckoutSessionCreateRequest", None),
        "create_checkout_session_response": ("CheckoutSession", None),
        "update_checkout_session_request": ("CheckoutSessionUpdateRequest", None),
        "update_checkout_session_response": ("CheckoutSession", None),
        "complete_checkout_session_request": ("CheckoutSessionCompleteRequest", None),
        "complete_checkout_session_response": ("CheckoutSessionWithOrder", None),
        "get_checkout_session_response": ("CheckoutSession", None),
        "cancel_checkout_session_response": ("CheckoutSession", None),
    },
    NEW: {
        "create_checkout_session_request": ("CheckoutSessionCreateRequest", None),
        "create_checkout_session_request_with_first_touch_attribution": (
            "CheckoutSessionCreateRequest",
            None,
        ),
        "create_checkout_session_response": ("CheckoutSession", None),
        "update_checkout_session_request": ("CheckoutSessionUpdateRequest", None),
        "update_checkout_session_response": ("CheckoutSession", None),
        "complete_checkout_session_request": ("CheckoutSessionCompleteRequest", None),
        "complete_checkout_session_request_seller_backed": (
            "CheckoutSessionCompleteRequest",
            None,
        ),
        "complete_checkout_session_request_with_last_touch_attribution": (
            "CheckoutSessionCompleteRequest",
            None,
        ),
        "complete_checkout_session_response": ("CheckoutSessionWithOrder", None),
        "get_checkout_session_response": ("CheckoutSession", None),
        "cancel_checkout_session_request": ("CancelSessionRequest", None),
        "cancel_checkout_session_request_timing_deferred": ("CancelSessionRequest", None),
        "cancel_checkout_session_response": ("CheckoutSession", None),
        # 2026-04-17 webhook EventDataOrder is `allOf[$ref Order, ...]` (webhook OpenAPI).
        "webhook_order_create_event": ("Order", "data"),
        "webhook_order_update_event": ("Order", "data"),
        "checkout_session_authentication_required": ("CheckoutSession", None),
        "complete_session_with_authentication_result_request": (
            "CheckoutSessionCompleteRequest",
            None,
        ),
        "authentication_result_example": ("AuthenticationResult", None),
        "error_400_requires_3ds": ("Error", None),
        "authentication_result_denied_example": ("AuthenticationResult", None),
        "authentication_result_frictionless_example": ("AuthenticationResult", None),
        "complete_session_with_denied_authentication_request": (
            "CheckoutSessionCompleteRequest",
            None,
        ),
        "error_400_invalid_item": ("Error", None),
        "checkout_session_with_out_of_stock": ("CheckoutSession", None),
        "checkout_session_with_payment_declined": ("CheckoutSession", None),
        "discovery_response_full": ("DiscoveryResponse", None),
        "discovery_response_minimal": ("DiscoveryResponse", None),
        "error_400_idempotency_key_required": ("Error", None),
        "error_422_idempotency_conflict": ("Error", None),
        "error_409_idempotency_in_flight": ("Error", None),
    },
}

# 2026-01-30's examples are 2026-04-17's first ones, illustrating the same definitions
# (its webhook events aside, see NOT_IN_BUNDLE); a key 2026-04-17 lacks would go unmapped.
CHECKOUT_EXAMPLES[JAN30] = {
    key: mapped
    for key, mapped in CHECKOUT_EXAMPLES[NEW].items()
    if key in _examples(JAN30, "agentic_checkout") and not key.startswith("webhook_")
}

# Examples the JSON Schema bundle has no definition for.
NOT_IN_BUNDLE: dict[str, dict[str, str]] = {
    OLD: {
        "webhook_order_create_event": "webhook bodies (EventDataOrder) exist only in "
        "openapi.agentic_checkout_webhook.yaml; the 2025-09-29 Order is a different shape",
        "webhook_order_update_event": "as webhook_order_create_event",
    },
    NEW: {},
    JAN30: {
        "webhook_order_create_event": "webhook bodies (EventDataOrder, with `refunds`) exist "
        "only in openapi.agentic_checkout_webhook.yaml; 2026-01-30's Order is another shape",
        "webhook_order_update_event": "as webhook_order_create_event",
    },
}

# 2025-12-12 and 2026-01-16 use keys of 2026-04-17 for the same definitions; 2026-01-16
# adds the 3-D Secure ones. Their webhook events are 2025-style EventDataOrder bodies.
SESSION_KEYS = (
    "create_checkout_session_request",
    "create_checkout_session_request_with_first_touch_attribution",
    "create_checkout_session_response",
    "update_checkout_session_request",
    "update_checkout_session_response",
    "complete_checkout_session_request",
    "complete_checkout_session_request_with_last_touch_attribution",
    "complete_checkout_session_response",
    "get_checkout_session_response",
    "cancel_checkout_session_request",
    "cancel_checkout_session_request_timing_deferred",
    "cancel_checkout_session_response",
)
AUTHENTICATION_KEYS = (
    "checkout_session_authentication_required",
    "complete_session_with_authentication_result_request",
    "authentication_result_example",
    "error_400_requires_3ds",
)
for _version, _keys in ((DEC12, SESSION_KEYS), (JAN16, SESSION_KEYS + AUTHENTICATION_KEYS)):
    CHECKOUT_EXAMPLES[_version] = {key: CHECKOUT_EXAMPLES[NEW][key] for key in _keys}
    NOT_IN_BUNDLE[_version] = {
        "webhook_order_create_event": "webhook bodies (EventDataOrder, with `refunds`) exist "
        f"only in openapi.agentic_checkout_webhook.yaml; {_version}'s Order is another shape",
        "webhook_order_update_event": "as webhook_order_create_event",
    }


@dataclass(frozen=True)
class Defect:
    """An upstream example that does not match its schema; ``errors`` is (json_path, message)."""

    reason: str
    errors: frozenset[tuple[str, str]]


KNOWN_DEFECTIVE: dict[tuple[str, str, str], Defect] = {
    (OLD, "agentic_checkout", "complete_checkout_session_response"): Defect(
        "the completed session has no `order`, which CheckoutSessionWithOrder requires "
        "(the complete endpoint's 200 body); 2026-04-17's example has one",
        frozenset({("$", "'order' is a required property")}),
    ),
    (NEW, "agentic_checkout", "webhook_order_create_event"): Defect(
        "SUMMARY.md §14 item 5: webhook events still use the legacy `refunds[]` (removed in "
        "favour of Order.adjustments[]) and lack the required Order `id`",
        frozenset(
            {
                ("$", "'id' is a required property"),
                ("$", "Additional properties are not allowed ('refunds' was unexpected)"),
            }
        ),
    ),
    (NEW, "agentic_checkout", "webhook_order_update_event"): Defect(
        "as webhook_order_create_event",
        frozenset(
            {
                ("$", "'id' is a required property"),
                ("$", "Additional properties are not allowed ('refunds' was unexpected)"),
            }
        ),
    ),
    (NEW, "agentic_checkout", "authentication_result_denied_example"): Defect(
        "outcome_details carries only transaction_id/version, but both the JSON Schema and "
        "the OpenAPI require all four fields whenever outcome_details is present (a denied "
        "result should omit it, as complete_session_with_denied_authentication_request does)",
        frozenset(
            {
                ("$.outcome_details", "'three_ds_cryptogram' is a required property"),
                ("$.outcome_details", "'electronic_commerce_indicator' is a required property"),
            }
        ),
    ),
    # Not in the brief's file, but vendored: the multi-item example predates 2026-01-30
    # (no capabilities, `protocol.capabilities`, LineItem total type `base_amount`).
    (NEW, "multi_item_checkout", "create_multi_item_checkout_request"): Defect(
        "stale pre-2026-01-30 shape: no `capabilities`",
        frozenset({("$", "'capabilities' is a required property")}),
    ),
    (NEW, "multi_item_checkout", "create_multi_item_checkout_response"): Defect(
        "stale pre-2026-01-30 shape",
        frozenset(
            {
                ("$", "'capabilities' is a required property"),
                (
                    "$.protocol",
                    "Additional properties are not allowed ('capabilities' was unexpected)",
                ),
                *(
                    (
                        f"$.line_items[{i}].totals[0].type",
                        "'base_amount' is not one of ['items_base_amount', 'items_discount', "
                        "'subtotal', 'discount', 'fulfillment', 'tax', 'fee', 'gift_wrap', 'tip', "
                        "'store_credit', 'total', 'amount_refunded']",
                    )
                    for i in (0, 1)
                ),
            }
        ),
    ),
}

# 2026-01-30's discount-extension examples (`{request, response}` each) were written for
# another draft: items with `quantity`, no `capabilities`, `capabilities.payment_methods`.
DISCOUNT_FILES = (
    "automatic-discount",
    "order-level-discount",
    "percentage-discount-with-allocations",
    "rejected-discount-code",
    "stacked-discounts",
)
DISCOUNT_PARTS = {"request": "CheckoutSessionCreateRequest", "response": "CheckoutSession"}
NO_CAPABILITIES = ("$", "'capabilities' is a required property")
PAYMENT_METHODS = (
    "$.capabilities",
    "Additional properties are not allowed ('payment_methods' was unexpected)",
)


def _quantity(*lines: int) -> frozenset[tuple[str, str]]:
    message = "Additional properties are not allowed ('quantity' was unexpected)"
    return frozenset({NO_CAPABILITIES, *((f"$.line_items[{i}]", message) for i in lines)})


for _name, _lines in zip(DISCOUNT_FILES, ((0,), (0,), (0, 1), (0,), (0, 1)), strict=True):
    KNOWN_DEFECTIVE[(JAN30, f"discount-extension/{_name}", "request")] = Defect(
        "items carry `quantity` (no such field on 2026-01-30's Item) and `capabilities` "
        "(required) is missing",
        _quantity(*_lines),
    )
    KNOWN_DEFECTIVE[(JAN30, f"discount-extension/{_name}", "response")] = Defect(
        "`capabilities.payment_methods` is no property of Capabilities",
        frozenset({PAYMENT_METHODS}),
    )

# 2026-01-30's OpenAPI inline request examples still have the 2025 shapes.
STALE_CREATE = frozenset(
    {
        NO_CAPABILITIES,
        ("$", "'currency' is a required property"),
        ("$", "'line_items' is a required property"),
        ("$", "Additional properties are not allowed ('items' was unexpected)"),
    }
)
STALE_PAYMENT = frozenset(
    {
        (
            "$.payment_data",
            "Additional properties are not allowed ('provider', 'token' were unexpected)",
        ),
        (
            "$.payment_data",
            "{'token': 'spt_123', 'provider': 'stripe'} is not valid under any of the given "
            "schemas",
        ),
    }
)
OPENAPI_EXAMPLES: dict[str, tuple[str, frozenset[tuple[str, str]]]] = {
    "minimal": ("CheckoutSessionCreateRequest", STALE_CREATE),
    "with_address": ("CheckoutSessionCreateRequest", STALE_CREATE),
    "with_first_touch_attribution": ("CheckoutSessionCreateRequest", STALE_CREATE),
    "set_fulfillment_option": (
        "CheckoutSessionUpdateRequest",
        frozenset(
            {
                ("$.selected_fulfillment_options[0]", "'item_ids' is a required property"),
                ("$.selected_fulfillment_options[0]", "'option_id' is a required property"),
                (
                    "$.selected_fulfillment_options[0]",
                    "Additional properties are not allowed ('shipping' was unexpected)",
                ),
            }
        ),
    ),
    "basic": ("CheckoutSessionCompleteRequest", STALE_PAYMENT),
    "with_affiliate_attribution": ("CheckoutSessionCompleteRequest", STALE_PAYMENT),
}
for _name, (_, _errors) in OPENAPI_EXAMPLES.items():
    KNOWN_DEFECTIVE[(JAN30, "openapi.agentic_checkout.yaml", _name)] = Defect(
        "a pre-2026-01-30 request shape (`items`, nested selection, `token`/`provider`)",
        _errors,
    )

MULTI_ITEM_EXAMPLES = {
    "create_multi_item_checkout_request": "CheckoutSessionCreateRequest",
    "create_multi_item_checkout_response": "CheckoutSession",
}


def _delegate_definition(key: str) -> str:
    if "error" in key:
        return "Error"
    return "DelegatePaymentRequest" if key.endswith("_request") else "DelegatePaymentResponse"


def _cases() -> list[Any]:
    cases = []
    for version, mapping in CHECKOUT_EXAMPLES.items():
        for key, (definition, member) in mapping.items():
            cases.append(
                pytest.param(
                    version,
                    "agentic_checkout",
                    key,
                    acp_schema.CHECKOUT,
                    definition,
                    member,
                    id=f"{version}-{key}",
                )
            )
    for version in acp_schema.VERSIONS:
        for key in _examples(version, "delegate_payment"):
            cases.append(
                pytest.param(
                    version,
                    "delegate_payment",
                    key,
                    acp_schema.DELEGATE_PAYMENT,
                    _delegate_definition(key),
                    None,
                    id=f"{version}-{key}",
                )
            )
    for key, definition in MULTI_ITEM_EXAMPLES.items():
        cases.append(
            pytest.param(
                NEW,
                "multi_item_checkout",
                key,
                acp_schema.CHECKOUT,
                definition,
                None,
                id=f"{NEW}-{key}",
            )
        )
    return cases


@pytest.mark.parametrize(("version", "file", "key", "bundle", "definition", "member"), _cases())
def test_spec_example(
    version: str, file: str, key: str, bundle: str, definition: str, member: str | None
) -> None:
    body = example(version, key, file)
    if member is not None:
        body = body[member]
    defect = KNOWN_DEFECTIVE.get((version, file, key))
    if defect is None:
        acp_schema.validate_bundle(version, bundle, definition, body)
        return
    found = {(e.json_path, e.message) for e in acp_schema.errors(version, bundle, definition, body)}
    assert found == defect.errors, f"{key} no longer fails (only) because {defect.reason}"
    with pytest.raises(AssertionError, match=definition):
        acp_schema.validate_bundle(version, bundle, definition, body)


@pytest.mark.parametrize("version", acp_schema.VERSIONS)
def test_every_checkout_example_is_accounted_for(version: str) -> None:
    keys = set(_examples(version, "agentic_checkout"))
    assert keys == set(CHECKOUT_EXAMPLES[version]) | set(NOT_IN_BUNDLE[version])
    assert not set(CHECKOUT_EXAMPLES[version]) & set(NOT_IN_BUNDLE[version])


def _openapi_request_examples(version: str) -> dict[str, Any]:
    """The inline request examples of a version's checkout OpenAPI, by name."""
    path = acp_schema.spec_dir() / version / "openapi" / "openapi.agentic_checkout.yaml"
    found: dict[str, Any] = {}
    for operations in yaml.safe_load(path.read_text(encoding="utf-8"))["paths"].values():
        for operation in operations.values():
            content = (
                operation.get("requestBody", {}).get("content", {})
                if isinstance(operation, dict)
                else {}
            )
            for media in content.values():
                found.update({k: v["value"] for k, v in media.get("examples", {}).items()})
    return found


def _jan30_extra_cases() -> list[Any]:
    cases = [
        pytest.param(f"discount-extension/{name}", part, definition, id=f"{name}-{part}")
        for name in DISCOUNT_FILES
        for part, definition in DISCOUNT_PARTS.items()
    ]
    cases += [
        pytest.param("openapi.agentic_checkout.yaml", name, definition, id=f"openapi-{name}")
        for name, (definition, _) in OPENAPI_EXAMPLES.items()
    ]
    return cases


@pytest.mark.parametrize(("file", "key", "definition"), _jan30_extra_cases())
def test_2026_01_30_defective_extra_examples(file: str, key: str, definition: str) -> None:
    """The discount-extension and OpenAPI inline examples of 2026-01-30 all fail, each
    for exactly its documented reason."""
    if file.endswith(".yaml"):
        body = _openapi_request_examples(JAN30)[key]
    else:
        path = acp_schema.spec_dir() / JAN30 / "examples" / f"{file}.json"
        body = json.loads(path.read_text(encoding="utf-8"))[key]
    defect = KNOWN_DEFECTIVE[(JAN30, file, key)]
    found = {
        (e.json_path, e.message)
        for e in acp_schema.errors(JAN30, acp_schema.CHECKOUT, definition, body)
    }
    assert found == defect.errors, f"{file} {key} no longer fails (only) because {defect.reason}"


def test_2026_01_30_extra_examples_are_accounted_for() -> None:
    folder = acp_schema.spec_dir() / JAN30 / "examples" / "discount-extension"
    assert {p.stem for p in folder.glob("*.json")} == set(DISCOUNT_FILES)
    assert set(_openapi_request_examples(JAN30)) == set(OPENAPI_EXAMPLES)


# 2026-01-16's examples.capability_negotiation.json follows an RFC draft that no schema
# took up: `agent_capabilities` / `seller_capabilities` (refused: additionalProperties is
# false), intervention values such as `3ds2`, a `payment_provider` without `merchant_id`.
# None of its examples is valid; the server refuses its requests (test_spec_examples.py).
NEGOTIATION = "capability_negotiation"
NEGOTIATION_PARTS = {
    "_request": ("CheckoutSessionCreateRequest", "agent_capabilities"),
    "_response": ("CheckoutSession", "seller_capabilities"),
}


@pytest.mark.parametrize("key", sorted(_examples(JAN16, NEGOTIATION)))
def test_2026_01_16_capability_negotiation_examples_are_all_invalid(key: str) -> None:
    suffix = "_request" if key.endswith("_request") else "_response"
    assert key.endswith(suffix), key
    definition, draft_field = NEGOTIATION_PARTS[suffix]
    found = acp_schema.errors(
        JAN16, acp_schema.CHECKOUT, definition, example(JAN16, key, NEGOTIATION)
    )
    assert any(
        e.json_path == "$" and f"'{draft_field}'" in e.message and "unexpected" in e.message
        for e in found
    ), acp_schema.format_errors(found)


def test_multi_item_examples_are_accounted_for() -> None:
    assert set(_examples(NEW, "multi_item_checkout")) == set(MULTI_ITEM_EXAMPLES)


def test_mapped_definitions_exist() -> None:
    for version, mapping in CHECKOUT_EXAMPLES.items():
        assert {d for d, _ in mapping.values()} <= set(acp_schema.definitions(version))


# --------------------------------------------------------------------------- patches


def _unpatched_errors(version: str, definition: str, body: Any) -> list[str]:
    """Errors against the bundle as vendored (no patches, no format checks)."""
    schema = acp_schema.raw_schema(version)
    registry: Registry[Any] = Registry().with_resource(
        schema["$id"], DRAFT202012.create_resource(schema)
    )
    validator = Draft202012Validator(
        {"$ref": f"{schema['$id']}#/$defs/{definition}"}, registry=registry
    )
    return [e.message for e in validator.iter_errors(body)]


def _with_order(version: str) -> dict[str, Any]:
    session: dict[str, Any] = example(version, "complete_checkout_session_response")
    session.setdefault(
        "order",
        {
            "id": "ord_123",
            "checkout_session_id": session["id"],
            "permalink_url": "https://www.testshop.com/orders/ord_123",
        },
    )
    return session


@pytest.mark.parametrize("version", acp_schema.VERSIONS)
def test_bundles_declare_2020_12_and_patched_schemas_are_valid(version: str) -> None:
    for bundle in acp_schema.bundles_of(version):
        schema = acp_schema.load_schema(version, bundle)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        Draft202012Validator.check_schema(schema)


def test_patch_draft4_exclusive_minimum() -> None:
    """SUMMARY.md §14 item 4."""
    with pytest.raises(SchemaError, match="True is not of type 'number'"):
        Draft202012Validator.check_schema(acp_schema.raw_schema(OLD))
    quantity = acp_schema.load_schema(OLD)["$defs"]["Item"]["properties"]["quantity"]
    assert quantity == {"type": "number", "exclusiveMinimum": 0}
    acp_schema.validate(OLD, "Item", {"id": "item_123", "quantity": 2.5})
    for bad in (0, -1):
        with pytest.raises(AssertionError, match=r"\$\.quantity: .* less than or equal to"):
            acp_schema.validate(OLD, "Item", {"id": "item_123", "quantity": bad})


def test_patch_order_in_2025_session_with_order() -> None:
    """SUMMARY.md §14 item 1: without the patch, no body can satisfy CheckoutSessionWithOrder.
    The patch admits `order` there only: CheckoutSession (every other endpoint) still
    refuses it."""
    session = _with_order(OLD)
    assert any(
        "'order' was unexpected" in m
        for m in _unpatched_errors(OLD, "CheckoutSessionWithOrder", session)
    )
    acp_schema.validate(OLD, "CheckoutSessionWithOrder", session)
    acp_schema.assert_checkout_session(OLD, session)
    acp_schema.assert_checkout_session(OLD, session, complete=True)
    with pytest.raises(AssertionError, match=r"'order' was unexpected"):
        acp_schema.validate(OLD, "CheckoutSession", session)
    with pytest.raises(AssertionError, match=r"'order' was unexpected"):
        acp_schema.assert_checkout_session(OLD, session, complete=False)
    for version in (DEC12, JAN16):  # from 2025-12-12 the base declares `order`
        acp_schema.assert_checkout_session(version, _with_order(version), complete=False)
    with pytest.raises(AssertionError, match=r"\$\.order: 'permalink_url' is a required"):
        acp_schema.assert_checkout_session(
            OLD, {**session, "order": {"id": "o", "checkout_session_id": "c"}}
        )


def test_patch_extensions_any_of() -> None:
    """SUMMARY.md §14 item 3: an empty extensions list matched both oneOf branches."""
    session = example(NEW, "get_checkout_session_response")
    session["capabilities"]["extensions"] = []
    assert any(
        "valid under each of" in m for m in _unpatched_errors(NEW, "CheckoutSession", session)
    )
    acp_schema.assert_checkout_session(NEW, session)
    session["capabilities"]["extensions"] = [{"name": "discount"}]
    acp_schema.assert_checkout_session(NEW, session)
    session["capabilities"]["extensions"] = ["discount"]
    acp_schema.validate(NEW, "Capabilities", session["capabilities"])
    session["capabilities"]["extensions"] = ["discount", {"name": "discount"}]  # mixed: neither
    with pytest.raises(AssertionError, match=r"\$\.capabilities\.extensions"):
        acp_schema.assert_checkout_session(NEW, session)


# --------------------------------------------------------------------------- 2. rejections


def _session(version: str) -> dict[str, Any]:
    """A valid session with a buyer (the complete response, given an order under 2025-09-29)."""
    session = _with_order(version)
    acp_schema.assert_checkout_session(version, session)
    return session


def _error_body() -> dict[str, Any]:
    return {"type": "invalid_request", "code": "invalid_item_id", "message": "No such item"}


@pytest.mark.parametrize("version", acp_schema.VERSIONS)
def test_rejects_error_with_extra_field(version: str) -> None:
    acp_schema.assert_error(version, _error_body())
    with pytest.raises(
        AssertionError, match=r"\$: Additional properties .*'detail' was unexpected"
    ):
        acp_schema.assert_error(version, {**_error_body(), "detail": "x"})
    with pytest.raises(AssertionError, match="'type' is a required property"):
        acp_schema.assert_error(version, {"error": _error_body()})  # no envelope (§2.3)


@pytest.mark.parametrize("version", acp_schema.VERSIONS)
def test_rejects_status_outside_enum(version: str) -> None:
    session = _session(version)
    session["status"] = "shipped"
    with pytest.raises(AssertionError, match=r"\$\.status: 'shipped' is not one of"):
        acp_schema.assert_checkout_session(version, session)


@pytest.mark.parametrize("version", acp_schema.VERSIONS)
@pytest.mark.parametrize("amount", [10.5, "430", None, True])
def test_rejects_non_integer_amount(version: str, amount: Any) -> None:
    session = _session(version)
    last = len(session["totals"]) - 1
    session["totals"][last]["amount"] = amount
    with pytest.raises(AssertionError, match=rf"\$\.totals\[{last}\]\.amount: .* is not of type"):
        acp_schema.assert_checkout_session(version, session)


@pytest.mark.parametrize("version", acp_schema.VERSIONS)
@pytest.mark.parametrize(
    "url",
    [
        "/orders/ord_123",
        "orders/ord_123",
        "//www.testshop.com/orders/1",
        "https://",
        "https://shop/a b",
    ],
)
def test_rejects_relative_permalink_url(version: str, url: str) -> None:
    session = _session(version)
    session["order"]["permalink_url"] = url
    with pytest.raises(AssertionError, match=r"\$\.order\.permalink_url: .* is not a 'uri'"):
        acp_schema.assert_checkout_session(version, session)


@pytest.mark.parametrize("version", acp_schema.VERSIONS)
@pytest.mark.parametrize("email", ["johnsmith", "john@", "@mail.com", "john smith@mail.com", "a@b"])
def test_rejects_bad_buyer_email(version: str, email: str) -> None:
    session = _session(version)
    session["buyer"]["email"] = email
    with pytest.raises(AssertionError, match=r"\$\.buyer\.email: .* is not a 'email'"):
        acp_schema.assert_checkout_session(version, session)


BAD_DATE_TIMES = [
    "tomorrow",
    "2026-04-17",
    "2026-04-17 10:00:00Z",
    "2026-04-17T10:00:00",
    "2026-04-17T10:00Z",
    "2026-02-30T10:00:00Z",
    "2026-04-17T25:00:00Z",
    "2026-04-17T10:00:00+0200",
    "1776420000",
]


@pytest.mark.parametrize("value", BAD_DATE_TIMES)
def test_rejects_bad_expires_at(value: str) -> None:
    session = _session(NEW)
    session["expires_at"] = "2026-04-17T10:00:00.5+02:00"
    acp_schema.assert_checkout_session(NEW, session)
    session["expires_at"] = value
    with pytest.raises(AssertionError, match=r"\$\.expires_at: .* is not a 'date-time'"):
        acp_schema.assert_checkout_session(NEW, session)


@pytest.mark.parametrize("value", BAD_DATE_TIMES)
def test_rejects_bad_date_time_2025(value: str) -> None:
    # 2025-09-29 sessions have no expires_at; the delivery window is its date-time field.
    session = _session(OLD)
    session["fulfillment_options"][0]["earliest_delivery_time"] = value
    with pytest.raises(
        AssertionError, match=r"\$\.fulfillment_options\[0\]: matches no oneOf branch"
    ):
        acp_schema.assert_checkout_session(OLD, session)
    found = acp_schema.errors(OLD, "agentic_checkout", "CheckoutSession", session)
    assert "is not a 'date-time'" in acp_schema.format_errors(found)


def test_expires_at_is_not_a_2025_field() -> None:
    session = _session(OLD)
    session["expires_at"] = "2026-04-17T10:00:00Z"
    with pytest.raises(AssertionError, match="'expires_at' was unexpected"):
        acp_schema.assert_checkout_session(OLD, session)


def test_supported_versions_only_in_2026_error() -> None:
    body = {
        **_error_body(),
        "code": "unsupported_api_version",
        "message": "Unsupported API-Version 2024-01-01",
        "supported_versions": [NEW, OLD],
    }
    with pytest.raises(AssertionError, match="'supported_versions' was unexpected"):
        acp_schema.assert_error(OLD, body)
    acp_schema.assert_error(NEW, body)
    with pytest.raises(AssertionError, match=r"\$\.supported_versions\[0\]: .* does not match"):
        acp_schema.assert_error(NEW, {**body, "supported_versions": ["v1"]})


@pytest.mark.parametrize("version", acp_schema.VERSIONS)
def test_error_type_enum_per_version(version: str) -> None:
    body = {**_error_body(), "type": "request_not_idempotent"}
    if version != NEW:  # every version but the newest has the type
        acp_schema.assert_error(version, body)
    else:
        with pytest.raises(AssertionError, match=r"\$\.type: 'request_not_idempotent' is not one"):
            acp_schema.assert_error(version, body)


def test_every_error_is_listed() -> None:
    session = _session(NEW)
    session["status"] = "bogus"
    session["buyer"]["email"] = "nope"
    session["order"]["permalink_url"] = "/o/1"
    with pytest.raises(AssertionError) as raised:
        acp_schema.assert_checkout_session(NEW, session)
    text = str(raised.value)
    assert "CheckoutSessionWithOrder: 3 schema error(s)" in text
    for path in ("$.status", "$.buyer.email", "$.order.permalink_url"):
        assert f"{path}: " in text


@pytest.mark.parametrize("version", acp_schema.VERSIONS)
def test_delegate_payment_rejections(version: str) -> None:
    response = example(version, "delegate_payment_success_response", "delegate_payment")
    acp_schema.assert_delegate_payment(version, "DelegatePaymentResponse", response)
    with pytest.raises(AssertionError, match=r"\$\.created: .* is not a 'date-time'"):
        acp_schema.assert_delegate_payment(
            version, "DelegatePaymentResponse", {**response, "created": "yesterday"}
        )
    with pytest.raises(AssertionError, match=r"\$\.code: 'nope' is not one of"):
        acp_schema.assert_delegate_payment(version, "Error", {**_error_body(), "code": "nope"})


# --------------------------------------------------------------------------- formats and API


@pytest.mark.parametrize(
    ("fmt", "value"),
    [
        ("uri", "https://www.testshop.com/orders/1?x=1#top"),
        ("uri", "http://[::1]:8080/p"),
        ("uri", "urn:isbn:0451450523"),
        ("uri", "mailto:john@mail.com"),
        ("email", "johnsmith@mail.com"),
        ("email", "first.last+tag@sub.example.co.uk"),
        ("date-time", "2025-10-12T07:20:50.52Z"),
        ("date-time", "2025-10-12t07:20:50z"),
        ("date-time", "2025-10-12T07:20:50-07:00"),
        ("date-time", "2016-12-31T23:59:60Z"),
    ],
)
def test_format_checker_accepts(fmt: str, value: str) -> None:
    assert acp_schema.FORMAT_CHECKER.conforms(value, fmt)


@pytest.mark.parametrize(
    ("fmt", "value"),
    [
        ("uri", "/relative/path"),
        ("uri", "www.testshop.com/orders/1"),
        ("uri", "https://www.testshop.com/a b"),
        ("uri", "https://www.testshop.com/%zz"),
        ("uri", "https://www.testshop.com/caf\u00e9"),
        ("uri", "https://www.testshop.com:80x/"),
        ("uri", ""),
        ("email", "john@@mail.com"),
        ("email", "jos\u00e9@mail.com"),  # non-ASCII is "idn-email", not "email"
        ("email", "john.@mail.com"),
        ("date-time", "2016-12-31T22:59:60Z"),  # leap second not at 23:59:60 UTC
        ("date-time", "2025-10-12T07:20:50.Z"),
        ("date-time", "\uff12\uff10\uff12\uff15-10-12T07:20:50Z"),  # non-ASCII digits
    ],
)
def test_format_checker_rejects(fmt: str, value: str) -> None:
    assert not acp_schema.FORMAT_CHECKER.conforms(value, fmt)


def test_unknown_definition_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="'CheckoutSessionResponse' is not in \\$defs"):
        acp_schema.validate(NEW, "CheckoutSessionResponse", {})
    with pytest.raises(ValueError, match="unknown ACP version"):
        acp_schema.validate("2025-01-01", "Error", _error_body())


def test_missing_spec_dir_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ACP_SPEC_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=r"ACP spec not found at .*ACP_SPEC_DIR"):
        acp_schema.spec_dir()


def test_spec_dir_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    real = acp_schema.spec_dir()
    monkeypatch.setenv("ACP_SPEC_DIR", str(real))
    assert acp_schema.spec_dir() == real

"""Validate ACP request/response bodies against the vendored JSON Schema of their API version.

The schemas come from the vendored spec at ``$ACP_SPEC_DIR`` or, by default,
``<repo root>/spec/acp-spec`` (``<version>/json-schema/schema.<bundle>.json``).
Known upstream schema defects are patched here, each patch naming the item of
``acp-spec/SUMMARY.md`` §14 (or the local finding) it fixes.  A patch whose
defect is no longer present raises, so a spec refresh forces a review.

Public API::

    validate(version, definition, body)                 # checkout bundle, any $defs name
    validate_bundle(version, bundle, definition, body)  # any bundle
    assert_checkout_session(version, body, complete=...)  # the definition of its endpoint
    assert_error(version, body)             # the flat checkout Error
    assert_delegate_payment(version, definition, body)

All of them raise ``AssertionError`` listing the JSON path and message of every error.

Definition names are the ``$defs`` keys and are the same in both versions for what a
merchant returns: ``CheckoutSession``, ``CheckoutSessionWithOrder``, ``Error``,
``CheckoutSessionCreateRequest``, ``CheckoutSessionUpdateRequest``,
``CheckoutSessionCompleteRequest``, ``Order`` ...  2026-04-17 adds e.g.
``CancelSessionRequest``, ``DiscoveryResponse``, ``AuthenticationResult``.  Delegate
payment (both versions): ``DelegatePaymentRequest``, ``DelegatePaymentResponse``,
``Error``.  Use :func:`definitions` to list them.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from email_validator import EmailNotValidError, validate_email
from jsonschema import FormatChecker, validators
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator
from referencing import Registry
from referencing.jsonschema import specification_with

__all__ = [
    "BUNDLES",
    "CHECKOUT",
    "DELEGATE_PAYMENT",
    "FORMAT_CHECKER",
    "VERSIONS",
    "PatchNoLongerApplies",
    "assert_cart",
    "assert_checkout_session",
    "assert_delegate_payment",
    "assert_error",
    "bundles_of",
    "definitions",
    "errors",
    "format_errors",
    "is_absolute_uri",
    "is_email",
    "is_rfc3339_date_time",
    "load_schema",
    "raw_schema",
    "spec_dir",
    "validate",
    "validate_bundle",
]

VERSIONS: tuple[str, ...] = ("2025-09-29", "2025-12-12", "2026-01-16", "2026-01-30", "2026-04-17")
BUNDLES: tuple[str, ...] = (
    "agentic_checkout",
    "delegate_payment",
    "delegate_authentication",
    "feed",
)

CHECKOUT = "agentic_checkout"
DELEGATE_PAYMENT = "delegate_payment"
DELEGATE_AUTHENTICATION = "delegate_authentication"
FEED = "feed"

_ENV_VAR = "ACP_SPEC_DIR"
_REPO_ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- spec location


def spec_dir() -> Path:
    """The ``acp-spec`` data: ``$ACP_SPEC_DIR``, else the copy vendored in ``spec/acp-spec``."""
    configured = os.environ.get(_ENV_VAR)
    path = Path(configured) if configured else _REPO_ROOT / "spec" / "acp-spec"
    if not all((path / version / "json-schema").is_dir() for version in VERSIONS):
        source = f"${_ENV_VAR}" if configured else f"the default (${_ENV_VAR} is not set)"
        raise FileNotFoundError(
            f"ACP spec not found at {path} (from {source}): expected "
            f"{', '.join(f'{v}/json-schema/' for v in VERSIONS)} there."
        )
    return path


# --------------------------------------------------------------------------- formats
# jsonschema only checks "uri" with rfc3987/rfc3986-validator and "date-time" with
# rfc3339-validator, and its built-in "email" check is just `"@" in value`.  None of those
# packages is a dependency, so the three formats the ACP schemas use are implemented
# here with the standard library and email-validator, and any other format found in a
# schema makes loading fail instead of being skipped silently.

_DATE_TIME = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
    r"[Tt](?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})(?:\.[0-9]+)?"
    r"(?P<offset>[Zz]|(?P<sign>[+-])(?P<off_hour>[0-9]{2}):(?P<off_minute>[0-9]{2}))",
    re.ASCII,
)


def is_rfc3339_date_time(value: object) -> bool:
    """RFC 3339 §5.6 ``date-time``: full date, ``T``, time with seconds and a mandatory offset."""
    if not isinstance(value, str):
        return True  # formats only constrain strings
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        return False
    number = {k: int(v) for k, v in match.groupdict().items() if v and v.isdigit()}
    try:
        dt.date(number["year"], number["month"], number["day"])
    except ValueError:
        return False
    if number["hour"] > 23 or number["minute"] > 59 or number["second"] > 60:
        return False
    offset_minutes = 0
    if match["sign"]:
        if number["off_hour"] > 23 or number["off_minute"] > 59:
            return False
        offset_minutes = number["off_hour"] * 60 + number["off_minute"]
        offset_minutes = -offset_minutes if match["sign"] == "-" else offset_minutes
    if number["second"] == 60:  # a leap second can only be 23:59:60 UTC
        utc_minute = (number["hour"] * 60 + number["minute"] - offset_minutes) % (24 * 60)
        return utc_minute == 23 * 60 + 59
    return True


# RFC 3986 appendix A, ASCII only (non-ASCII needs the "iri" format).
_HEX = "[0-9A-Fa-f]"
_PCT = f"%{_HEX}{{2}}"
_UNRESERVED = r"A-Za-z0-9\-._~"
_SUB_DELIMS = r"!$&'()*+,;="
_PCHAR = f"(?:[{_UNRESERVED}{_SUB_DELIMS}:@]|{_PCT})"
_URI = re.compile(
    rf"(?P<scheme>[A-Za-z][A-Za-z0-9+\-.]*):"
    rf"(?://(?P<authority>(?:[{_UNRESERVED}{_SUB_DELIMS}:@\[\]]|{_PCT})*)"
    rf"(?P<abs_path>(?:/{_PCHAR}*)*)"
    rf"|(?P<path>(?:/?{_PCHAR}+(?:/{_PCHAR}*)*)|/)?)"
    rf"(?:\?(?P<query>(?:{_PCHAR}|[/?])*))?"
    rf"(?:#(?P<fragment>(?:{_PCHAR}|[/?])*))?",
    re.ASCII,
)
_AUTHORITY = re.compile(
    rf"(?:(?P<userinfo>(?:[{_UNRESERVED}{_SUB_DELIMS}:]|{_PCT})*)@)?"
    rf"(?P<host>\[[0-9A-Fa-f:.]+\]|\[v{_HEX}+\.[{_UNRESERVED}{_SUB_DELIMS}:]+\]"
    rf"|(?:[{_UNRESERVED}{_SUB_DELIMS}]|{_PCT})*)"
    r"(?::(?P<port>[0-9]*))?",
    re.ASCII,
)


def is_absolute_uri(value: object) -> bool:
    """RFC 3986 ``URI`` (absolute: it must have a scheme), syntax only.

    Stricter than the RFC in one place: ``http``/``https`` URIs need a host (RFC 9110 §4.2).
    """
    if not isinstance(value, str):
        return True
    match = _URI.fullmatch(value)
    if match is None:
        return False
    authority = match["authority"]
    if authority is not None:
        parts = _AUTHORITY.fullmatch(authority)
        if parts is None:
            return False
        host = parts["host"]
    else:
        host = ""
    return not (match["scheme"].lower() in {"http", "https"} and not host)


def is_email(value: object) -> bool:
    """RFC 5321 mailbox (ASCII: internationalised addresses are the ``idn-email`` format)."""
    if not isinstance(value, str):
        return True
    try:
        # test_environment only admits the RFC 2606 ".test" TLD; it changes nothing else here.
        validate_email(
            value, check_deliverability=False, allow_smtputf8=False, test_environment=True
        )
    except EmailNotValidError:
        return False
    return True


def _build_format_checker() -> FormatChecker:
    checker = FormatChecker()
    checker.checks("date-time")(is_rfc3339_date_time)
    checker.checks("uri")(is_absolute_uri)
    checker.checks("email")(is_email)
    return checker


FORMAT_CHECKER: FormatChecker = _build_format_checker()


# --------------------------------------------------------------------------- schema patches
# Each patch takes the (deep-copied) bundle and edits it in place.  It raises if the defect it
# fixes is gone, so the harness is re-examined when the vendored spec changes.

Patch = Callable[[dict[str, Any]], None]


class PatchNoLongerApplies(RuntimeError):
    """The upstream defect a patch targets is not there any more."""


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for child in node.values():
            yield from _walk(child)
    elif isinstance(node, list):
        for child in node:
            yield from _walk(child)


def _defs(schema: dict[str, Any], name: str) -> dict[str, Any]:
    try:
        definition: dict[str, Any] = schema["$defs"][name]
    except KeyError:
        raise PatchNoLongerApplies(f"$defs/{name} is missing") from None
    return definition


def _patch_draft4_exclusive_bounds(schema: dict[str, Any]) -> None:
    """SUMMARY.md §14 item 4: draft-04 boolean ``exclusiveMinimum`` in a 2020-12 schema.

    ``Item.quantity`` reads ``{"minimum": 0, "exclusiveMinimum": true}``, which makes the
    schema itself invalid under 2020-12 (``exclusiveMinimum`` must be a number).  Turn it
    into ``{"exclusiveMinimum": 0}`` so the meaning stays "> 0"; same for the maximum side.
    """
    found = False
    for node in _walk(schema):
        for exclusive, inclusive in (
            ("exclusiveMinimum", "minimum"),
            ("exclusiveMaximum", "maximum"),
        ):
            if isinstance(node.get(exclusive), bool):
                found = True
                if node.pop(exclusive) and inclusive in node:
                    node[exclusive] = node.pop(inclusive)
    if not found:
        raise PatchNoLongerApplies("no boolean exclusiveMinimum/exclusiveMaximum left")


WITH_ORDER_BASE = "CheckoutSessionBaseWithOrder"


def _patch_order_in_session_with_order(schema: dict[str, Any]) -> None:
    """SUMMARY.md §14 item 1: ``CheckoutSessionWithOrder`` can never validate.

    It is ``allOf[CheckoutSessionBase (additionalProperties: false), {order}]``, and the
    base rejects ``order`` as an additional property.  ``CheckoutSessionWithOrder`` gets
    its own copy of the base that declares ``order`` (as 2025-12-12+ declare it in the
    base), ``$defs/CheckoutSessionBaseWithOrder``: the complete endpoint's answer can
    validate, while ``CheckoutSession`` (what create, get, update and cancel answer)
    still rejects ``order``, as this version's base does.
    """
    base = _defs(schema, "CheckoutSessionBase")
    if "order" in base.get("properties", {}) or base.get("additionalProperties") is not False:
        raise PatchNoLongerApplies("CheckoutSessionBase already admits `order`")
    parts = _defs(schema, "CheckoutSessionWithOrder").get("allOf", [])
    if not parts or parts[0] != {"$ref": "#/$defs/CheckoutSessionBase"}:
        raise PatchNoLongerApplies("CheckoutSessionWithOrder is not allOf[CheckoutSessionBase, …]")
    admitted = copy.deepcopy(base)
    admitted["properties"]["order"] = {"$ref": "#/$defs/Order"}
    schema["$defs"][WITH_ORDER_BASE] = admitted
    parts[0] = {"$ref": f"#/$defs/{WITH_ORDER_BASE}"}


def _patch_extensions_one_of(schema: dict[str, Any]) -> None:
    """SUMMARY.md §14 item 3: ``Capabilities.extensions`` is ``oneOf`` two array schemas.

    ``[]`` matches both branches (array of identifiers / array of declarations), so oneOf
    rejects an empty list.  ``anyOf`` keeps every non-empty list's meaning and accepts ``[]``.
    """
    extensions = _defs(schema, "Capabilities").get("properties", {}).get("extensions", {})
    if "oneOf" not in extensions:
        raise PatchNoLongerApplies("Capabilities.extensions is not a oneOf any more")
    extensions["anyOf"] = extensions.pop("oneOf")


WITH_RESULT_BASE = "DelegateAuthenticationSessionBaseWithResult"


def _patch_result_in_session_with_result(schema: dict[str, Any]) -> None:
    """The same defect as ``CheckoutSessionWithOrder``'s, in the delegate-authentication
    bundle: ``DelegateAuthenticationSessionWithResult`` is ``allOf[Base
    (additionalProperties: false), {authentication_result}]``, so no session with a
    result (the spec's own retrieve examples) validates. It gets its own copy of the
    base that declares ``authentication_result``."""
    base = _defs(schema, "DelegateAuthenticationSessionBase")
    if "authentication_result" in base.get("properties", {}):
        raise PatchNoLongerApplies("the base already admits `authentication_result`")
    parts = _defs(schema, "DelegateAuthenticationSessionWithResult").get("allOf", [])
    if not parts or parts[0] != {"$ref": "#/$defs/DelegateAuthenticationSessionBase"}:
        raise PatchNoLongerApplies("the session with result is not allOf[Base, …]")
    admitted = copy.deepcopy(base)
    admitted["properties"]["authentication_result"] = {"$ref": "#/$defs/AuthenticationResult"}
    schema["$defs"][WITH_RESULT_BASE] = admitted
    parts[0] = {"$ref": f"#/$defs/{WITH_RESULT_BASE}"}


_PATCHES: Mapping[tuple[str, str], tuple[Patch, ...]] = {
    ("2025-09-29", CHECKOUT): (_patch_draft4_exclusive_bounds, _patch_order_in_session_with_order),
    ("2026-01-30", CHECKOUT): (_patch_extensions_one_of,),
    ("2026-04-17", CHECKOUT): (_patch_extensions_one_of,),
    ("2026-04-17", DELEGATE_AUTHENTICATION): (_patch_result_in_session_with_result,),
}


# --------------------------------------------------------------------------- loading


def bundles_of(version: str) -> tuple[str, ...]:
    """The schema bundles a release has (delegate authentication came in 2026-04-17)."""
    folder = spec_dir() / version / "json-schema"
    return tuple(b for b in BUNDLES if (folder / f"schema.{b}.json").is_file())


def _schema_path(version: str, bundle: str) -> Path:
    if version not in VERSIONS:
        raise ValueError(f"unknown ACP version {version!r}; expected one of {VERSIONS}")
    if bundle not in BUNDLES:
        raise ValueError(f"unknown schema bundle {bundle!r}; expected one of {BUNDLES}")
    path = spec_dir() / version / "json-schema" / f"schema.{bundle}.json"
    if not path.is_file():
        raise FileNotFoundError(f"ACP schema file missing: {path}")
    return path


class _Bundle:
    """One patched schema file with its validator class, registry and per-definition cache."""

    def __init__(self, version: str, bundle: str) -> None:
        path = _schema_path(version, bundle)
        schema = raw_schema(version, bundle)
        for patch in _PATCHES.get((version, bundle), ()):
            try:
                patch(schema)
            except PatchNoLongerApplies as exc:
                raise PatchNoLongerApplies(
                    f"{path}: {patch.__name__} no longer applies ({exc}); the upstream defect "
                    f"seems fixed, so review and drop the patch in {__file__}"
                ) from None
        dialect = schema.get("$schema")
        # Pick the validator class from the declared "$schema" (all current ACP bundles say
        # 2020-12); refuse to guess for an undeclared or unknown dialect.
        cls = validators.validator_for(schema, default=None) if dialect else None
        if cls is None:
            raise ValueError(f"{path}: unsupported or missing $schema {dialect!r}")
        cls.check_schema(schema)  # the patched schema must itself be valid
        unknown = {
            node["format"]
            for node in _walk(schema)
            if isinstance(node.get("format"), str) and node["format"] not in FORMAT_CHECKER.checkers
        }
        if unknown:
            raise ValueError(
                f"{path}: no format checker for {sorted(unknown)}; register one in "
                f"{__file__} rather than skipping the format silently"
            )
        self.path = path
        self.schema: dict[str, Any] = schema
        self.base_uri: str = schema.get("$id") or path.resolve().as_uri()
        resource = specification_with(str(dialect)).create_resource(schema)
        self.registry: Registry[Any] = Registry().with_resource(self.base_uri, resource)
        self.validator_class: type[Validator] = cls
        self._validators: dict[str, Validator] = {}
        self._lock = threading.Lock()

    def validator(self, definition: str) -> Validator:
        with self._lock:
            if definition not in self._validators:
                if definition not in self.schema.get("$defs", {}):
                    raise KeyError(
                        f"{definition!r} is not in $defs of {self.path}; known: "
                        f"{', '.join(sorted(self.schema.get('$defs', {})))}"
                    )
                # A $ref into the registered bundle, so the bundle's own "#/$defs/..."
                # references resolve against it.
                self._validators[definition] = self.validator_class(
                    {"$ref": f"{self.base_uri}#/$defs/{definition}"},
                    registry=self.registry,
                    format_checker=FORMAT_CHECKER,
                )
            return self._validators[definition]


_BUNDLES: dict[tuple[str, str], _Bundle] = {}
_BUNDLES_LOCK = threading.Lock()


def _bundle(version: str, bundle: str) -> _Bundle:
    key = (version, bundle)
    with _BUNDLES_LOCK:
        if key not in _BUNDLES:
            _BUNDLES[key] = _Bundle(version, bundle)
        return _BUNDLES[key]


def raw_schema(version: str, bundle: str = CHECKOUT) -> dict[str, Any]:
    """The bundle exactly as vendored, without the patches (fresh copy on every call)."""
    loaded: dict[str, Any] = json.loads(_schema_path(version, bundle).read_text(encoding="utf-8"))
    return loaded


def load_schema(version: str, bundle: str = CHECKOUT) -> dict[str, Any]:
    """A deep copy of the patched bundle (for inspection; validation uses the cached one)."""
    return copy.deepcopy(_bundle(version, bundle).schema)


def definitions(version: str, bundle: str = CHECKOUT) -> tuple[str, ...]:
    """The ``$defs`` names available for ``version``/``bundle``."""
    return tuple(_bundle(version, bundle).schema["$defs"])


# --------------------------------------------------------------------------- validation


def errors(version: str, bundle: str, definition: str, body: Any) -> list[ValidationError]:
    """All validation errors of ``body`` against ``$defs/<definition>``, sorted by location."""
    validator = _bundle(version, bundle).validator(definition)
    unique: dict[tuple[str, str], ValidationError] = {}
    for error in validator.iter_errors(body):
        # CheckoutSessionWithOrder checks `order` twice (base + allOf branch): report once.
        unique.setdefault((error.json_path, error.message), error)
    return sorted(unique.values(), key=lambda e: (list(map(str, e.path)), e.message))


def _branch_name(error: ValidationError, branch: int | str) -> str:
    branches = error.schema.get(error.validator, []) if isinstance(error.schema, dict) else []
    target = branches[branch] if isinstance(branch, int) and branch < len(branches) else {}
    ref = target.get("$ref", "") if isinstance(target, dict) else ""
    return f"{error.validator}[{branch}]" + (f" {ref.rsplit('/', 1)[-1]}" if ref else "")


def _describe(error: ValidationError, depth: int = 1) -> list[str]:
    pad = "  " * depth
    if error.context and error.validator in ("oneOf", "anyOf"):
        # jsonschema's message repeats the whole instance; the branches say more.
        lines = [f"{pad}{error.json_path}: matches no {error.validator} branch"]
    else:
        lines = [f"{pad}{error.json_path}: {error.message}"]
    branches: dict[int | str, list[ValidationError]] = {}
    for sub in error.context or ():
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    # Branches whose discriminator (a `const`) failed are the wrong variant: hide them
    # when some branch is of the right variant.
    variant = {b: subs for b, subs in branches.items() if all(e.validator != "const" for e in subs)}
    for branch, subs in sorted((variant or branches).items(), key=lambda item: str(item[0])):
        lines.append(f"{pad}  - {_branch_name(error, branch)}:")
        for sub in sorted(subs, key=lambda e: (list(map(str, e.path)), e.message)):
            lines.extend(_describe(sub, depth + 2))
    return lines


def format_errors(found: list[ValidationError]) -> str:
    return "\n".join(line for error in found for line in _describe(error))


def validate_bundle(version: str, bundle: str, definition: str, body: Any) -> None:
    """Raise ``AssertionError`` listing every error of ``body`` against the definition."""
    found = errors(version, bundle, definition, body)
    if found:
        raise AssertionError(
            f"ACP {version} {bundle} {definition}: {len(found)} schema error(s)\n"
            + format_errors(found)
        )


def validate(version: str, definition: str, body: Any) -> None:
    """Validate ``body`` against ``$defs/<definition>`` of the agentic-checkout bundle."""
    validate_bundle(version, CHECKOUT, definition, body)


def assert_checkout_session(version: str, body: Any, *, complete: bool | None = None) -> None:
    """A checkout session response, against the definition its endpoint answers.

    ``complete=True`` (the complete endpoint): ``CheckoutSessionWithOrder`` when the
    session is completed; a complete that did not complete it (a declined payment, a
    3-D Secure challenge) has no order to show and answers ``CheckoutSession``.
    ``complete=False`` (create, get, update, cancel): ``CheckoutSession``, which in
    2025-09-29 has no ``order``.  ``None`` (endpoint unknown): by the body,
    ``CheckoutSessionWithOrder`` if it has ``order``.
    """
    is_dict = isinstance(body, dict)
    if complete is None:
        with_order = is_dict and "order" in body
    else:
        with_order = complete and is_dict and body.get("status") == "completed"
    validate(version, "CheckoutSessionWithOrder" if with_order else "CheckoutSession", body)


def assert_error(version: str, body: Any) -> None:
    """The flat checkout ``Error`` body (no ``{"error": ...}`` envelope)."""
    validate(version, "Error", body)


def assert_delegate_payment(version: str, definition: str, body: Any) -> None:
    """Validate against ``$defs/<definition>`` of the delegate-payment bundle."""
    validate_bundle(version, DELEGATE_PAYMENT, definition, body)


# --------------------------------------------------------------------------- carts (2026-04-17)

_CART_VALIDATORS: dict[str, Validator] = {}


def assert_cart(version: str, definition: str, body: Any) -> None:
    """Validate against ``$defs/<definition>`` of ``schema.cart.json`` (``Cart``,
    ``CartCreateRequest``, ``CartUpdateRequest``). The bundle refers to the checkout
    bundle by a relative name, so the (patched) checkout bundle is registered under
    the URI that name resolves to as well as under its own ``$id``."""
    key = f"{version} {definition}"
    with _BUNDLES_LOCK:
        validator = _CART_VALIDATORS.get(key)
    if validator is None:
        path = spec_dir() / version / "json-schema" / "schema.cart.json"
        cart = json.loads(path.read_text(encoding="utf-8"))
        checkout = _bundle(version, CHECKOUT)
        spec = specification_with(str(cart["$schema"]))
        beside = cart["$id"].rsplit("/", 1)[0] + "/schema.agentic_checkout.json"
        registry: Registry[Any] = Registry().with_resources(
            [
                (cart["$id"], spec.create_resource(cart)),
                (beside, spec.create_resource(checkout.schema)),
                (checkout.base_uri, spec.create_resource(checkout.schema)),
            ]
        )
        validator = checkout.validator_class(
            {"$ref": f"{cart['$id']}#/$defs/{definition}"},
            registry=registry,
            format_checker=FORMAT_CHECKER,
        )
        with _BUNDLES_LOCK:
            _CART_VALIDATORS[key] = validator
    found = sorted(validator.iter_errors(body), key=lambda e: list(map(str, e.path)))
    if found:
        raise AssertionError(f"ACP {version} cart {definition}:\n" + format_errors(found))

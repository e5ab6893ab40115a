"""The types of settings whose environment text needs more than pydantic's reading: booleans
in our spellings, URLs, comma-separated lists and `name:value` pairs.

A parser raises ValueError with a phrase that follows the variable's name ("must be ...");
`Settings.from_env` puts the name in front. Values given as Python objects (by code and
tests) skip the text parsing and meet only the type's own checks."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Collection
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")


def from_text(parse: Callable[[str], object]) -> BeforeValidator:
    """Applies `parse` to environment text only."""
    return BeforeValidator(lambda value: parse(value) if isinstance(value, str) else value)


def one_of(choices: Collection[str]) -> AfterValidator:
    """Refuses a value outside `choices` (for choices known only at run time)."""

    def check(value: str) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    return AfterValidator(check)


def parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in TRUE or lowered in FALSE:
        return lowered in TRUE
    raise ValueError(f"must be true or false, got {raw!r}")


def http_url(value: str) -> str:
    value = value.strip()
    if not value.startswith(("http://", "https://")):
        raise ValueError("must be an absolute http(s) URL")
    return value


def url_template(placeholder: str) -> Callable[[str], str]:
    """A check of an absolute URL template with its `{placeholder}`."""

    def check(value: str) -> str:
        if f"{{{placeholder}}}" not in value or not value.startswith(("http://", "https://")):
            raise ValueError(f"must be an absolute URL with {{{placeholder}}}")
        return value

    return check


def parse_pairs(raw: str) -> dict[str, str]:
    """`a:b,c:d` to {a: b, c: d}; the value is what follows the last colon."""
    pairs: dict[str, str] = {}
    for entry in (part.strip() for part in raw.split(",")):
        if not entry:
            continue
        key, sep, value = entry.rpartition(":")
        if not sep or not key or not value:
            raise ValueError("entries must look like name:value")
        pairs[key] = value
    return pairs


def parse_api_keys(raw: str) -> dict[str, str]:
    """`key:merchant_id,key2:merchant_id2` to {key: merchant_id}."""
    keys = parse_pairs(raw)
    if not keys:
        raise ValueError("is set but names no key")
    return keys


def parse_networks(raw: str) -> tuple[IPNetwork, ...]:
    """Comma-separated addresses or CIDR networks, e.g. `10.0.0.0/8,192.0.2.7`."""
    try:
        return tuple(
            ipaddress.ip_network(part.strip(), strict=False)
            for part in raw.split(",")
            if part.strip()
        )
    except ValueError:
        raise ValueError("must list IP addresses or CIDR networks") from None


def parse_schedule(raw: str) -> tuple[float, ...]:
    """Comma-separated delays in seconds, e.g. `1,5,30`."""
    try:
        delays = tuple(float(part) for part in raw.split(","))
    except ValueError:
        raise ValueError("must be comma-separated seconds") from None
    if any(delay < 0 for delay in delays):
        raise ValueError("must list non-negative delays")
    return delays


def parse_host_ports(raw: str) -> tuple[tuple[str, int], ...]:
    """`host:port,host2:port2` to ((host, port), ...); an IPv6 host may be in brackets."""
    found: list[tuple[str, int]] = []
    for entry in (part.strip() for part in raw.split(",")):
        if not entry:
            continue
        host, _, port = entry.rpartition(":")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if not host or not port.isdecimal() or not 0 < int(port) < 65536:
            raise ValueError(f"entries must look like host:port, got {entry!r}")
        found.append((host, int(port)))
    return tuple(found)


def parse_event_names(raw: str) -> bool:
    """`spec` or `legacy`: whether webhook events carry their legacy names."""
    names = raw.strip()
    if names not in ("spec", "legacy"):
        raise ValueError(f"must be one of spec, legacy, got {raw!r}")
    return names == "legacy"


# Choices are read with the spaces around them ignored, some in any case.
STRIPPED = from_text(str.strip)
LOWERCASE = from_text(lambda raw: raw.strip().lower())
UPPERCASE = from_text(lambda raw: raw.strip().upper())

EnvBool = Annotated[bool, from_text(parse_bool)]
AbsoluteUrl = Annotated[str, AfterValidator(http_url)]
BaseUrl = Annotated[str, AfterValidator(lambda url: http_url(url.strip().rstrip("/")))]
OrderUrlTemplate = Annotated[str, AfterValidator(url_template("order_id"))]
CartUrlTemplate = Annotated[str, AfterValidator(url_template("cart_id"))]
Pairs = Annotated[dict[str, str], from_text(parse_pairs)]
ApiKeys = Annotated[dict[str, str], from_text(parse_api_keys)]
Networks = Annotated[tuple[IPNetwork, ...], from_text(parse_networks)]
Schedule = Annotated[tuple[float, ...], from_text(parse_schedule)]
HostPorts = Annotated[tuple[tuple[str, int], ...], from_text(parse_host_ports)]
EventNames = Annotated[bool, from_text(parse_event_names)]


def parse_consent_options(raw: str) -> tuple[tuple[str, str, str], ...]:
    """`[{"channel": ..., "display_text": ..., "privacy_policy_url": ...}, ...]` (JSON)."""
    try:
        options = json.loads(raw) if raw.strip() else []
        rows = tuple(
            (str(o["channel"]), str(o["display_text"]), http_url(str(o["privacy_policy_url"])))
            for o in options
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(
            "must be a JSON list of {channel, display_text, privacy_policy_url} objects "
            f"with absolute http(s) policy URLs ({type(exc).__name__})"
        ) from None
    if len({channel for channel, _, _ in rows}) != len(rows):
        raise ValueError("must name each channel once")
    return rows


ConsentOptions = Annotated[tuple[tuple[str, str, str], ...], from_text(parse_consent_options)]

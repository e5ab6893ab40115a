"""Failed credentials per client address: guessing keys is throttled.

Every refused API key (a key was sent and is wrong) and every refused admin key (the
admin API's Bearer header, the admin page's sign-in form) counts one unit in the
address's GCRA bucket `authfail:<address>` in the store, at once, so every instance
agrees: `AUTH_FAILURES_PER_MINUTE` (10) a minute, with a burst of as many. An address
over the limit is refused (429 with `Retry-After`) *before* its credential is looked
at, so it learns nothing about any key, right or wrong, until its bucket drains. A
correct key costs nothing; a missing one is no guess and is not counted.

That check costs no store call: it reads this instance's rate-limit account, which
holds the bucket of each failure counted here (exactly: the count returns it) and
learns at every settlement the addresses other instances' counts took over the limit
(the store lists a bucket left full as busy). So a throttled address is refused on
every instance within one settlement round (`actors/rate_limits.py`).

The client address is the TCP peer (`request.remote_addr`, from the ASGI scope,
never from a header). Behind a reverse proxy every peer is the proxy: list it in
`TRUSTED_PROXIES` (addresses or CIDR networks); only when the peer is one of them is
`X-Forwarded-For` read, from the right, skipping trusted proxies (the bundled nginx
appends the address it saw). A header from any other peer is ignored, or a guesser
could name a fresh address per guess. IPv6 clients are counted per /64, the block
one host usually holds.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import structlog
from quart import request

from agentic_commerce import metrics
from agentic_commerce.actors.rate_limits import RateLimits
from agentic_commerce.config.env_types import IPNetwork
from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.domain.rate_limit import Limit
from agentic_commerce.http.context import RateLimited

log = structlog.get_logger("agentic_commerce.http")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
UNKNOWN = "unknown"  # no peer address (a Unix socket): one bucket for all such callers


class AuthThrottled(RateLimited):
    """Too many failed credentials from this address: the merchant rate limit's
    answer (`too_many_requests`, the only such code the delegate-payment Error
    allows; that endpoint gives it its `rate_limit_exceeded` type) with its own message."""

    def __init__(self, retry_after: int) -> None:
        RequestRejected.__init__(
            self,
            "too_many_requests",
            "Too many failed credentials from this address; retry after the time in Retry-After.",
            None,
            status=429,
            retry_after=retry_after,
        )


def _ip(text: str | None) -> IPAddress | None:
    try:
        address = ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_address(
    peer: str | None, forwarded_for: str | None, proxies: tuple[IPNetwork, ...]
) -> str:
    """The bucket name of the caller: its address (IPv6: its /64)."""
    client = _ip(peer)
    if client is None:
        return UNKNOWN

    def trusted(address: IPAddress) -> bool:
        return any(address in network for network in proxies)

    if forwarded_for and trusted(client):
        for hop in reversed(forwarded_for.split(",")):
            address = _ip(hop)
            if address is None:
                break  # garbage: nothing left of it can be believed
            client = address
            if not trusted(address):
                break
    if isinstance(client, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((client, 64), strict=False))
    return str(client)


@dataclass(frozen=True, slots=True)
class AuthThrottle:
    limits: RateLimits
    limit: Limit
    proxies: tuple[IPNetwork, ...] = ()

    def address(self) -> str:
        """The current request's client (see the module docstring)."""
        return self.address_of(request.remote_addr, request.headers.get("X-Forwarded-For"))

    def address_of(self, peer: str | None, forwarded_for: str | None) -> str:
        """The client of a request outside quart (the MCP endpoint): its TCP peer and
        `X-Forwarded-For` header, read as for any other request."""
        return client_address(peer, forwarded_for, self.proxies)

    def refuse_if_over(self, address: str) -> None:
        """429 when the address is over its limit of failures (no store call)."""
        decision = self.limits.peek(f"authfail:{address}", self.limit)
        if not decision.allowed:
            metrics.AUTH_FAILURES.labels("too_many_auth_failures").inc()
            raise AuthThrottled(decision.retry_after)

    def admit(self) -> str:
        """The client's address, unless it is over its limit of failures (429)."""
        address = self.address()
        self.refuse_if_over(address)
        return address

    async def failed(self, address: str) -> None:
        """Count one refused credential from `address` (in the store, at once)."""
        decision = await self.limits.count_in_store(f"authfail:{address}", self.limit)
        if decision.allowed and decision.remaining == 0:
            log.warning("auth_failures_throttled", client=address, per_minute=self.limit.per_minute)

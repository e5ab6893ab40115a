"""`Merchant-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`.

The format of ACP 2026-04-17 (Stripe-aligned). `verify` is the public helper for
receivers; `agentic-commerce-verify-webhook` wraps it as a command.
"""

from __future__ import annotations

import argparse
import re
import sys
import time

from agentic_commerce.protocol.signing import same, timestamped_mac

HEADER = "Merchant-Signature"
PATTERN = re.compile(r"^t=(\d+),v1=([a-fA-F0-9]{64})$")
DEFAULT_TOLERANCE_SECONDS = 300


class InvalidSignature(ValueError):
    """The header is missing or malformed, too old, or does not match."""


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    return timestamped_mac(secret, str(timestamp), body).hex()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The `Merchant-Signature` header value for `body`."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={_mac(secret, t, body)}"


def verify(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> int:
    """Check a received webhook; returns its timestamp or raises `InvalidSignature`."""
    match = PATTERN.match(header or "")
    if match is None:
        raise InvalidSignature("missing or malformed Merchant-Signature")
    timestamp, given = int(match.group(1)), match.group(2).lower()
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise InvalidSignature("timestamp outside the tolerance")
    if not same(given, _mac(secret, timestamp, body)):
        raise InvalidSignature("signature does not match")
    return timestamp


def main(argv: list[str] | None = None) -> int:
    """Verify a webhook body (stdin or --body-file) against its Merchant-Signature."""
    parser = argparse.ArgumentParser(
        prog="agentic-commerce-verify-webhook", description=main.__doc__
    )
    parser.add_argument("--secret", required=True, help="the shared WEBHOOK_SECRET")
    parser.add_argument("--header", required=True, help="the Merchant-Signature value")
    parser.add_argument("--body-file", help="file with the raw body (default: stdin)")
    parser.add_argument("--tolerance", type=int, default=DEFAULT_TOLERANCE_SECONDS)
    args = parser.parse_args(argv)
    if args.body_file:
        with open(args.body_file, "rb") as handle:
            body = handle.read()
    else:
        body = sys.stdin.buffer.read()
    try:
        verify(args.secret, args.header, body, tolerance_seconds=args.tolerance)
    except InvalidSignature as exc:
        print(f"invalid: {exc}", file=sys.stderr)
        return 1
    print("valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())

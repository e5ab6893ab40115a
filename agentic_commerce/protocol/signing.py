"""HMAC-SHA256 over `timestamp + "." + body`: the one construction behind request
signatures (agent to merchant), webhook signatures (merchant to agent) and the
calls forwarded between instances. Each caller only chooses how the timestamp is
written and how the digest is encoded."""

from __future__ import annotations

import hashlib
import hmac


def timestamped_mac(secret: str, timestamp: str, body: bytes) -> bytes:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).digest()


def same(given: bytes | str, expected: bytes | str) -> bool:
    """Constant-time comparison (of two digests, or of two hex strings)."""
    if isinstance(given, str) and isinstance(expected, str):
        return hmac.compare_digest(given.encode(), expected.encode())
    if isinstance(given, bytes) and isinstance(expected, bytes):
        return hmac.compare_digest(given, expected)
    return False

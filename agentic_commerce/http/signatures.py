"""Request signatures: HMAC-SHA256 over `Timestamp` + "." + the raw body.

The spec describes a detached signature over canonical JSON without fixing a
scheme; signing the raw bytes is this server's documented choice for REST
(nothing to canonicalise, so client and server cannot disagree). An MCP tool call
has no raw body: its body is the RFC 8785 canonical JSON of `payload`, signed the
same way with `meta.timestamp` and `meta.signature` (`http.mcp.tools`). The signature may be sent
as base64url without padding (preferred), with padding, or as hex. A timestamp
outside the tolerance is `signature_expired`; a signature seen before within
the tolerance window is `signature_replayed` (the cache lives in the store, so
instances share it); anything else that fails is `invalid_signature`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import datetime

from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.protocol.signing import same, timestamped_mac
from agentic_commerce.store.base import Store


def digest(secret: str, timestamp: str, body: bytes) -> bytes:
    return timestamped_mac(secret, timestamp, body)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature a client sends: base64url, no padding."""
    return base64.urlsafe_b64encode(digest(secret, timestamp, body)).rstrip(b"=").decode()


def decode(signature: str) -> bytes | None:
    """The 32 digest bytes of a base64url (padded or not) or hex signature."""
    value = signature.strip()
    if len(value) == 64:
        try:
            return bytes.fromhex(value)
        except ValueError:
            pass
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


def refused(code: str, message: str) -> RequestRejected:
    return RequestRejected(code, message, None, status=401)


class Signatures:
    def __init__(
        self,
        store: Store,
        default_secret: str | None,
        merchant_secrets: Mapping[str, str],
        tolerance_seconds: float,
    ) -> None:
        self.store = store
        self.default_secret = default_secret
        self.merchant_secrets = dict(merchant_secrets)
        self.tolerance = tolerance_seconds

    def secret_for(self, merchant_id: str) -> str | None:
        return self.merchant_secrets.get(merchant_id, self.default_secret)

    async def verify(
        self,
        merchant_id: str,
        timestamp: str | None,
        signature: str | None,
        body: bytes,
        now: datetime,
    ) -> None:
        """Pass, or raise a 401 saying why; a no-op for merchants without a secret."""
        secret = self.secret_for(merchant_id)
        if secret is None:
            return
        if not timestamp or not signature:
            raise refused("invalid_signature", "Timestamp and Signature headers are required.")
        try:
            sent_at = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
        except ValueError:
            raise refused("invalid_signature", "Timestamp must be RFC 3339.") from None
        if sent_at.tzinfo is None:
            raise refused("invalid_signature", "Timestamp must carry a UTC offset.")
        if abs((now - sent_at).total_seconds()) > self.tolerance:
            raise refused("signature_expired", "The request timestamp is outside the tolerance.")
        given = decode(signature)
        expected = digest(secret, timestamp, body)
        if given is None or not same(given, expected):
            raise refused("invalid_signature", "The request signature does not match.")
        replay_key = f"{merchant_id}:{expected.hex()}"
        if not await self.store.remember_signature(replay_key, 2 * self.tolerance):
            raise refused("signature_replayed", "This signature was used before.")

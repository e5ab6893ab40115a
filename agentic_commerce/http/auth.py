"""Bearer API keys per merchant, compared without leaking timing.

Keys are looked up by their SHA-256 digest, then the digests are compared with
`hmac.compare_digest`, so neither the dictionary lookup nor the comparison
depends on how much of a guessed key is right.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from agentic_commerce.domain.errors import RequestRejected


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class ApiKeys:
    def __init__(self, keys: Mapping[str, str]) -> None:
        self._by_digest = {_digest(key): merchant for key, merchant in keys.items()}

    def merchant_for(self, authorization: str | None) -> str:
        """The merchant id of a valid `Authorization: Bearer <key>` header, else a 401."""
        if not authorization:
            raise unauthorized("missing_api_key", "An API key is required (Authorization: Bearer).")
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise unauthorized("invalid_api_key", "Use Authorization: Bearer <api key>.")
        digest = _digest(key.strip())
        for known, merchant in self._by_digest.items():
            if hmac.compare_digest(known, digest):
                return merchant
        raise unauthorized("invalid_api_key", "The API key is not valid.")


def unauthorized(code: str, message: str) -> RequestRejected:
    return RequestRejected(code, message, None, status=401)

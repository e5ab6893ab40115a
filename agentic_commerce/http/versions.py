"""API versions: one codec per supported `API-Version`, chosen per request."""

from __future__ import annotations

from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.http.codecs.base import Codec, Storefront
from agentic_commerce.http.codecs.v2025_09_29 import Codec2025
from agentic_commerce.http.codecs.v2026_04_17 import Codec2026

NEWEST = Codec2026.version


class Versions:
    def __init__(self, storefront: Storefront) -> None:
        codecs: list[Codec] = [Codec2026(storefront), Codec2025(storefront)]
        self.by_version = {c.version: c for c in codecs}
        self.supported = sorted(self.by_version, reverse=True)  # newest first
        self.newest = self.by_version[NEWEST]

    def codec_for(self, header: str | None) -> Codec:
        if header is None or not header.strip():
            raise VersionRejected("missing_api_version", "The API-Version header is required.")
        codec = self.by_version.get(header.strip())
        if codec is None:
            raise VersionRejected("unsupported_api_version", "This API-Version is not supported.")
        return codec


class VersionRejected(RequestRejected):
    """A missing or unknown version: answered in the newest version's Error shape,
    with the list of supported versions."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message, None, status=400)

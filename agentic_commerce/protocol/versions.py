"""API versions: one codec per served `API-Version` (the rows of `traits.VERSIONS`
that have one), chosen per request."""

from __future__ import annotations

import orjson

from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.domain.view import SessionView
from agentic_commerce.protocol.base import Codec, Storefront
from agentic_commerce.protocol.traits import OLDEST_FIRST
from agentic_commerce.protocol.v2025_09_29 import Codec2025
from agentic_commerce.protocol.v2025_12_12 import Codec20251212
from agentic_commerce.protocol.v2026_01_16 import Codec20260116
from agentic_commerce.protocol.v2026_01_30 import Codec20260130
from agentic_commerce.protocol.v2026_04_17 import Codec2026

CODECS: tuple[type[Codec], ...] = (
    Codec2025,
    Codec20251212,
    Codec20260116,
    Codec20260130,
    Codec2026,
)
NEWEST = OLDEST_FIRST[-1]


class Versions:
    def __init__(self, storefront: Storefront) -> None:
        codecs = {cls.version: cls(storefront) for cls in CODECS}
        self.by_version = {v: codecs[v] for v in OLDEST_FIRST if v in codecs}
        self.oldest_first = list(self.by_version)  # the discovery document's order
        self.supported = self.oldest_first[::-1]  # newest first, as errors list them
        self.newest = self.by_version[NEWEST]

    def render(self, version: str, view: SessionView, *, complete: bool = False) -> bytes:
        """The session in `version`, rendered once per view (a view never changes):
        the bytes an idempotency record stores are the bytes sent. `complete`: as the
        complete endpoint answers it (`Codec.render_completion`)."""
        key = f"{version} complete" if complete else version
        body = view.rendered.get(key)
        if body is None:
            codec = self.by_version[version]
            rendered = codec.render_completion(view) if complete else codec.render_session(view)
            # A copy of exact size: orjson's own bytes keep its whole growth buffer
            # (about 8 KB for a 3 KB session), and these are kept while the session is.
            body = view.rendered[key] = bytes(memoryview(orjson.dumps(rendered)))
        return body

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

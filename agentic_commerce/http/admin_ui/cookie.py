"""The admin page's sign-in cookie: an expiry time and an HMAC of it keyed with the
admin key.

Stateless, so any instance and any restart accepts it until it expires or the
admin key changes; never the key itself; checked in constant time.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable

from agentic_commerce.http.admin import AdminGuard

COOKIE_NAME = "acs_admin"
COOKIE_PATH = "/admin"
LIFETIME_SECONDS = 8 * 3600
LABEL = b"agentic-commerce admin page v1|"
MAX_EXPIRY_DIGITS = 12


class PageCookie:
    def __init__(
        self,
        guard: AdminGuard,
        lifetime: int = LIFETIME_SECONDS,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._guard = guard
        self.lifetime = lifetime
        self._now = now

    def issue(self) -> str:
        expires = int(self._now()) + self.lifetime
        return f"{expires}.{self._sign(expires)}"

    def valid(self, value: str | None) -> bool:
        expires, _, mac = (value or "").partition(".")
        if not (expires.isascii() and expires.isdigit() and len(expires) <= MAX_EXPIRY_DIGITS):
            return False
        if int(expires) <= self._now():
            return False
        return hmac.compare_digest(mac.encode(), self._sign(int(expires)).encode())

    def _sign(self, expires: int) -> str:
        return self._guard.mac(LABEL + str(expires).encode()).hex()

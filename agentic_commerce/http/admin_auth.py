"""Who may use `/admin`, and who did.

Two credentials open the admin routes: the admin key (`Authorization: Bearer
<ADMIN_API_KEY>`, for scripts) and the admin page's sign-in cookie (people). The
cookie holds a random sign-in id, its expiry and the name the operator gave, with
an HMAC of them keyed with the admin key: never the key, valid on every instance
without store state, void once the key changes. Signing out stores a revocation of
the id until the cookie would have expired (`RevocationStore`), so every instance
refuses it from then on.

With the cookie, a request that changes something also needs the CSRF token: an
HMAC of the sign-in id (so any instance can check it, and it is not the cookie),
sent as `X-CSRF-Token` (the page's script) or the form field `csrf_token` (its
sign-out form). SameSite=Strict keeps the cookie off cross-site requests; the token
is the second lock, and one a forged form cannot know.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from quart import g, request

from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.http.throttle import AuthThrottle
from agentic_commerce.store.base import RevocationStore

COOKIE_NAME = "acs_admin"
COOKIE_PATH = "/admin"
LIFETIME_SECONDS = 8 * 3600
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
COOKIE_LABEL = b"agentic-commerce admin page v2|"
CSRF_LABEL = b"agentic-commerce admin csrf v1|"
MAX_EXPIRY_DIGITS = 12
MAX_NAME_CHARS = 40
DEFAULT_NAME = "operator"


class AdminGuard:
    """Constant-time check of the admin key; no key configured means no admin API.

    `open_paths` skip the credential check (never the 404): the admin page's own
    document, sign-in, sign-out and assets, which check what they need themselves.
    """

    def __init__(self, key: str | None) -> None:
        self._key = key.encode() if key else None
        self._digest = hashlib.sha256(self._key).digest() if self._key else None
        self.open_paths: set[str] = set()

    @property
    def configured(self) -> bool:
        return self._digest is not None

    def matches(self, key: str) -> bool:
        """Whether `key` is the admin key (digests compared, so in constant time)."""
        given = hashlib.sha256(key.encode()).digest()
        return self._digest is not None and hmac.compare_digest(given, self._digest)

    def mac(self, message: bytes) -> bytes:
        """HMAC-SHA256 keyed with the admin key: credentials derived from it
        (the page's cookie, its CSRF token) that are not the key and die with it."""
        if self._key is None:
            raise RequestRejected("not_found", "Not found.", None, status=404)
        return hmac.new(self._key, message, hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class SignIn:
    """One sign-in on the admin page, as its cookie carries it."""

    id: str
    expires: int
    name: str

    @property
    def handle(self) -> str:
        """A short digest of the id: follows one sign-in through the audit log
        without writing any part of the cookie there."""
        return hashlib.sha256(self.id.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Operator:
    """Who made an admin request, as the audit log names them (never a credential)."""

    name: str
    via: Literal["key", "page"]
    sign_in: str | None = None  # SignIn.handle


def operator_name(given: str) -> str:
    """The name an operator gives at sign-in, made safe to show and log."""
    name = "".join(c for c in given if c.isprintable()).strip()[:MAX_NAME_CHARS]
    return name or DEFAULT_NAME


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _unb64(text: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None


class PageCookie:
    """The sign-in cookie `<id>.<expiry>.<name, base64url>.<HMAC>` and its CSRF token."""

    def __init__(
        self,
        guard: AdminGuard,
        lifetime: int = LIFETIME_SECONDS,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._guard = guard
        self.lifetime = lifetime
        self._now = now

    def issue(self, name: str = DEFAULT_NAME) -> str:
        body = f"{secrets.token_hex(16)}.{int(self._now()) + self.lifetime}.{_b64(name)}"
        return f"{body}.{self._sign(body)}"

    def read(self, value: str | None) -> SignIn | None:
        """The sign-in of a cookie with a valid signature that has not expired (a
        revocation is the store's to say)."""
        body, _, mac = (value or "").rpartition(".")
        parts = body.split(".")
        if len(parts) != 3 or not hmac.compare_digest(mac.encode(), self._sign(body).encode()):
            return None
        sign_in_id, expires, encoded = parts
        if not (expires.isascii() and expires.isdigit() and len(expires) <= MAX_EXPIRY_DIGITS):
            return None
        name = _unb64(encoded)
        if name is None or int(expires) <= self._now():
            return None
        return SignIn(sign_in_id, int(expires), name)

    def csrf_token(self, sign_in: SignIn) -> str:
        return self._guard.mac(CSRF_LABEL + sign_in.id.encode()).hex()

    def csrf_ok(self, sign_in: SignIn, token: str | None) -> bool:
        return hmac.compare_digest((token or "").encode(), self.csrf_token(sign_in).encode())

    def _sign(self, body: str) -> str:
        return self._guard.mac(COOKIE_LABEL + body.encode()).hex()


def set_operator(operator: Operator) -> Operator:
    """Who the current admin request is from, for its audit line."""
    g.admin_operator = operator
    return operator


def current_operator() -> Operator | None:
    """Who the current admin request authenticated as (None: nobody yet)."""
    operator = g.get("admin_operator")
    return operator if isinstance(operator, Operator) else None


class AdminAuth:
    """The credential check of every admin route but the page's open paths."""

    def __init__(
        self,
        guard: AdminGuard,
        revocations: RevocationStore,
        throttle: AuthThrottle,
    ) -> None:
        self.guard = guard
        self.cookie = PageCookie(guard)
        self.revocations = revocations
        self.throttle = throttle

    async def signed_in(self) -> SignIn | None:
        """The request's sign-in: a valid cookie that was not signed out."""
        sign_in = self.cookie.read(request.cookies.get(COOKIE_NAME))
        if sign_in is None or await self.revocations.revoked(sign_in.id):
            return None
        return sign_in

    async def sign_out(self, sign_in: SignIn) -> None:
        await self.revocations.revoke(sign_in.id, sign_in.expires)

    async def authenticate(self) -> Operator:
        """The Bearer key when one is sent (or no cookie is), else the cookie, with
        the CSRF token for anything but a read. Wrong keys count against the caller's
        address (`throttle.py`); a throttled address is refused before its key is
        looked at."""
        authorization = request.headers.get("Authorization")
        if authorization or COOKIE_NAME not in request.cookies:
            client = self.throttle.admit()
            scheme, _, key = (authorization or "").partition(" ")
            if scheme.lower() != "bearer" or not self.guard.matches(key.strip()):
                if authorization:  # no key sent: not a guess
                    await self.throttle.failed(client)
                raise RequestRejected("invalid_admin_key", "Admin key required.", None, status=401)
            return set_operator(Operator("admin-key", "key"))
        sign_in = await self.signed_in()
        if sign_in is None:
            raise RequestRejected("admin_sign_in_required", "Sign in on /admin/.", None, status=401)
        operator = set_operator(Operator(sign_in.name, "page", sign_in.handle))
        if request.method not in SAFE_METHODS and not self.cookie.csrf_ok(
            sign_in, request.headers.get(CSRF_HEADER)
        ):
            raise RequestRejected(
                "csrf_token_invalid", "A valid CSRF token is required.", None, status=403
            )
        return operator

"""Request ids: the caller's (REST's `Request-Id` header, an MCP call's
`meta.request_id`) when it is safe to log, else one made here."""

from __future__ import annotations

import itertools
import re
import secrets

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")  # else one is generated (log safety)
_ID_PREFIX = secrets.token_hex(4)  # per process: ids stay unique across instances
_ids = itertools.count(1)


def new_request_id() -> str:
    return f"req_{_ID_PREFIX}{next(_ids):010x}"


def request_id(given: object) -> str:
    """The id a request gave, if it is a short safe string, else a new one."""
    return given if isinstance(given, str) and REQUEST_ID.match(given) else new_request_id()

"""JSON responses rendered with orjson."""

from __future__ import annotations

from typing import Any

import orjson
from quart import Response

JSON_TYPE = "application/json"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status=status, headers=headers, content_type=JSON_TYPE)

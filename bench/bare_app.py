"""Baseline: a bare quart-trio app on hypercorn serving one fixed JSON body.

Usage: python bench/bare_app.py --port PORT --body FILE
GET /session returns the body; POST /session reads the request body first and
returns the same bytes (the ceiling for the server's POSTs). The hypercorn
settings match the real server's (no access or error log).
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from quart import Response, request
from quart_trio import QuartTrio


def create_app(body: bytes) -> QuartTrio:
    """GET and POST /session returning `body` as application/json; the POST reads
    the request body, as every real POST must."""
    app = QuartTrio("bare")

    @app.get("/session")
    async def session() -> Response:
        return Response(body, content_type="application/json")

    @app.post("/session")
    async def session_post() -> Response:
        await request.get_data()
        return Response(body, content_type="application/json")

    return app


def hypercorn_config(port: int) -> Config:
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.errorlog = None
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body", type=Path, required=True)
    args = parser.parse_args()
    app = create_app(args.body.read_bytes())
    trio.run(partial(serve, app, hypercorn_config(args.port)))


if __name__ == "__main__":
    main()

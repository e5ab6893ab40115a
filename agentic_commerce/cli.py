"""`agentic-commerce-server`: serve (the default), or `feed export DIR`."""

from __future__ import annotations

import sys

from agentic_commerce import feed_export, supervisor


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:2] == ["feed", "export"]:
        return feed_export.main(args[2:])
    return supervisor.main(args)

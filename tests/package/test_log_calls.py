"""structlog's first positional argument is `event`: a log call that also passes
`event=` raises TypeError, and inside an actor that crash escalates through the
supervisor (it once stopped the process under webhook load). Checked statically
over the whole package, so no code path has to run for it to be caught."""

from __future__ import annotations

import ast
from pathlib import Path

import agentic_commerce

LOG_METHODS = frozenset({"debug", "info", "warning", "error", "critical", "exception", "msg"})
PACKAGE = Path(agentic_commerce.__file__).parent


def colliding_calls(source: str) -> list[int]:
    """Lines of `<name>.<level>(..., event=...)` calls."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in LOG_METHODS
            and any(keyword.arg == "event" for keyword in node.keywords)
        ):
            lines.append(node.lineno)
    return lines


def test_the_check_finds_a_collision() -> None:
    assert colliding_calls('log.info("webhook_delivery", event=kind)') == [1]
    assert colliding_calls('log.info("webhook_delivery", event_type=kind)') == []


def test_no_log_call_passes_event_as_a_keyword() -> None:
    found = {
        f"{path.relative_to(PACKAGE)}:{line}"
        for path in PACKAGE.rglob("*.py")
        for line in colliding_calls(path.read_text())
    }
    assert not found, f"log calls passing event=: {sorted(found)}"

"""The no-unexpected-crash invariant: any test that runs the actor system fails
when an actor crashed or a supervisor restarted a child, unless it is marked
`kills_actors` (it kills actors on purpose).

In-process the evidence is the `acs_actor_crashes_total` and
`acs_actor_restarts_total` counters (one registry for the whole run, so the
check compares them before and after each test). Real processes write their
crash lines (`actor_crashed`, `supervisor_escalated`) and 500s
(`unhandled_error`) to their logs; the helpers that stop them call
`check_process_log`.
"""

from __future__ import annotations

import orjson
from prometheus_client import Counter

from agentic_commerce import metrics

CRASH_EVENTS = frozenset({"actor_crashed", "supervisor_escalated", "unhandled_error"})


class Watch:
    """Whether the running test allows crashes (set by the autouse fixture)."""

    allowed = False


def count(counter: Counter) -> float:
    return sum(
        sample.value
        for family in counter.collect()
        for sample in family.samples
        if sample.name.endswith("_total")
    )


def crash_total() -> float:
    return count(metrics.CRASHES) + count(metrics.RESTARTS)


def crash_lines(log: bytes | str) -> list[str]:
    """The log lines (JSON or not) that report a crash, a restart or a 500."""
    text = log.decode(errors="replace") if isinstance(log, bytes) else log
    found = []
    for line in text.splitlines():
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            if any(event in line for event in CRASH_EVENTS):
                found.append(line)
            continue
        if isinstance(entry, dict) and entry.get("event") in CRASH_EVENTS:
            found.append(line)
    return found


def check_process_log(log: bytes | str, name: str = "server") -> None:
    """Fail unless the test allows crashes, when a server process logged one."""
    if Watch.allowed:
        return
    lines = crash_lines(log)
    if lines:
        shown = "\n".join(lines[:10])
        raise AssertionError(f"{name} logged {len(lines)} unexpected crash(es):\n{shown}")

"""What a Redis round trip's span says (semantic conventions for databases).

A span is one store call's round (`RedisBase._round`), in the caller's task and
trace: under load the batcher sends several calls' rounds as one pipeline, and
each call's span then records when its round left (event `sent`, after waiting
for a hop) and how many jobs and commands shared the trip. The commands are named
(a script by its name in `scripts`), never their keys or arguments.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from agentic_commerce import tracing
from agentic_commerce.store.redis import scripts
from agentic_commerce.store.redis.keys import Client

SCRIPT_NAMES = {
    script.sha: name.lower()
    for name, script in vars(scripts).items()
    if isinstance(script, scripts.Script)
}
SCRIPT_CALLS = frozenset({"EVALSHA", "EVALSHA_RO"})


def server_of(client: Client) -> tracing.Attributes:
    """The attributes of every span of a client: the database, and where it is when
    that is one node known in advance (a Sentinel group's master or a cluster's
    nodes change)."""
    attributes: dict[str, str | int] = {"db.system.name": "redis"}
    pool = getattr(client, "connection_pool", None)
    kwargs = getattr(pool, "connection_kwargs", {})
    if "host" in kwargs and getattr(pool, "service_name", None) is None:
        attributes["server.address"] = str(kwargs["host"])
        attributes["server.port"] = int(kwargs.get("port", 6379))
    if "db" in kwargs:
        attributes["db.namespace"] = str(kwargs["db"])
    return attributes


def _names(stages: Sequence[Any]) -> Iterator[str]:
    for stage in stages:
        for command in stage.command_stack:
            args = command.args if hasattr(command, "args") else command[0]  # cluster, node
            name = str(args[0]).upper()
            if name in SCRIPT_CALLS:
                yield f"{name} {SCRIPT_NAMES.get(args[1], 'script')}"
            else:
                yield name


def describe(stages: Sequence[Any], server: tracing.Attributes) -> tuple[str, tracing.Attributes]:
    """A round's span name (its query summary: each command once, in order) and attributes."""
    names = list(_names(stages))
    summary = " ".join(dict.fromkeys(names))
    attributes: dict[str, Any] = {**server, "db.query.summary": summary}
    operations = {name.split(" ")[0] for name in names}
    if len(names) == 1:
        attributes["db.operation.name"] = names[0].split(" ")[0]
    else:
        attributes["db.operation.batch.size"] = len(names)
        only = next(iter(operations)) if len(operations) == 1 else None
        attributes["db.operation.name"] = f"BATCH {only}" if only else "BATCH"
    return summary, attributes

"""A real Sentinel group for tests: a master, a replica and three sentinels, each a
`redis-server` on loopback with its own directory.

The master can be killed (-9): the sentinels promote the replica. Restarted, the
old master comes back as a master and the sentinels reconfigure it as a replica
(they wait 8 s before doing so, to let newer configurations reach them). Every
step waits on what the sentinels and `ROLE` say, with a deadline, never a fixed
sleep.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import redis

from tests.redis_server import RedisServer, started_in_temp_dir
from tests.waiting import poll

MASTER_NAME = "acs"
SENTINELS = 3
QUORUM = 2
# Unanswered this long: subjectively down. It must exceed the 1 s between a sentinel's
# pings with room to spare: its first ping on a new link (a new master, after each
# failover) goes out 1 s after the link opened, and with 1000 the sentinels would all
# see the new master down at once, and fail over again.
DOWN_AFTER_MS = 2000
FAILOVER_TIMEOUT_MS = 3000  # also the pause before a sentinel retries a failed failover
DATA_OPTIONS = ("--repl-diskless-sync-delay", "0")  # a replica syncs at once, not after 5 s
SETTLE_TIMEOUT = 30.0  # covers the 8 s before a restarted master is reconfigured
FAILOVER_TIMEOUT = 20.0


class SentinelServer(RedisServer):
    """A `redis-server --sentinel`: its config file is its state, rewritten as it
    learns the group, so each sentinel needs a directory of its own."""

    def __init__(self, directory: Path, master_port: int) -> None:
        super().__init__(directory)
        self.config = directory / "sentinel.conf"
        self.config.write_text(
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} {QUORUM}\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}\n"
        )

    def command(self) -> list[str]:
        return [
            "redis-server",
            str(self.config),  # a sentinel must have its config file as first argument
            "--sentinel",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
            "--daemonize",
            "no",
            "--logfile",
            str(self.directory / "redis.log"),
        ]


def _client(port: int) -> redis.Redis:
    """RESP3, so that a sentinel's maps arrive as dicts."""
    return redis.Redis(port=port, socket_timeout=2, decode_responses=True, protocol=3)


def _sentinel(port: int, *args: str) -> Any:
    """A `SENTINEL` reply as the server sends it: the subcommand as its own argument
    gets no redis-py response callback, whose shapes differ between versions."""
    with _client(port) as client:
        return client.execute_command("SENTINEL", *args)


def named_master(sentinel_port: int) -> int:
    """The master's port, as the sentinel on `sentinel_port` names it."""
    _host, port = _sentinel(sentinel_port, "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
    return int(port)


def role(port: int) -> list[Any]:
    """`ROLE`: `[master, ...]` or `[slave, host, master port, state, offset]`."""
    with _client(port) as client:
        return list(client.role())


class SentinelGroup:
    """The five processes in `root`, one directory each."""

    master_name = MASTER_NAME

    def __init__(self, root: Path) -> None:
        master = RedisServer(_directory(root, "master"), options=DATA_OPTIONS)
        replica_of = ("--replicaof", "127.0.0.1", str(master.port))
        replica = RedisServer(_directory(root, "replica"), options=DATA_OPTIONS + replica_of)
        self.data = {server.port: server for server in (master, replica)}
        self.sentinel_servers = [
            SentinelServer(_directory(root, f"sentinel-{i}"), master.port) for i in range(SENTINELS)
        ]

    def start(self) -> None:
        for server in [*self.data.values(), *self.sentinel_servers]:
            server.start()
        self._wait_settled()

    @property
    def sentinels(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", server.port) for server in self.sentinel_servers]

    def master_port(self) -> int:
        """The master, as the first sentinel names it."""
        return named_master(self.sentinel_servers[0].port)

    def kill_master(self) -> int:
        """SIGKILL the master; its port."""
        port = self.master_port()
        self.data[port].kill()
        return port

    def wait_for_failover(self, old_port: int, timeout: float = FAILOVER_TIMEOUT) -> int:
        """Wait until every sentinel names the same new master and it says it is one
        (`ROLE`); its port."""

        def promoted() -> int | None:
            named = {named_master(server.port) for server in self.sentinel_servers}
            port = named.pop() if len(named) == 1 else None
            if port is not None and port != old_port and role(port)[0] == "master":
                return port
            return None

        return poll(promoted, timeout, ignoring=(redis.RedisError,))

    def restart(self, port: int) -> None:
        """Bring a killed data node back on its port and directory, and wait until it is
        a replica of the current master in sync and every sentinel sees it up (a
        returning master is one only after the sentinels reconfigured it)."""
        self.data[port].start()
        self._wait_settled()

    def _wait_settled(self) -> None:
        poll(self._settled, SETTLE_TIMEOUT, ignoring=(redis.RedisError,))

    def _settled(self) -> bool:
        """All sentinels name one master, know each other and every live replica, and
        each replica is in sync with that master (`ROLE`)."""
        named = {named_master(server.port) for server in self.sentinel_servers}
        if len(named) != 1:
            return False
        master = named.pop()
        replicas = {port for port, server in self.data.items() if server.running} - {master}
        return (
            role(master)[0] == "master"
            and all(role(port)[2:4] == [master, "connected"] for port in replicas)
            and all(self._sees(s.port, replicas) for s in self.sentinel_servers)
        )

    def _sees(self, sentinel_port: int, replicas: set[int]) -> bool:
        """The sentinel knows the other sentinels and every replica, none of them down.
        (Not what a replica last said of its link: a sentinel asks that every 10 s.)"""
        state = _sentinel(sentinel_port, "MASTER", MASTER_NAME)
        flags = {
            int(fields["port"]): fields["flags"]
            for fields in _sentinel(sentinel_port, "REPLICAS", MASTER_NAME)
        }
        return (
            state["flags"] == "master"
            and int(state["num-other-sentinels"]) == SENTINELS - 1
            and all(flags.get(port) == "slave" for port in replicas)
        )

    def flushall(self) -> None:
        with _client(self.master_port()) as client:
            client.flushall()

    def stop(self) -> None:
        """Sentinels first, so that they do not react to the data nodes going away."""
        for server in [*self.sentinel_servers, *self.data.values()]:
            server.stop()


def _directory(root: Path, name: str) -> Path:
    directory = root / name
    directory.mkdir()
    return directory


def sentinel_group() -> AbstractContextManager[SentinelGroup]:
    return started_in_temp_dir("acs-redis-sentinel-", SentinelGroup)

"""A real Redis Cluster for tests: 3 masters and 3 replicas, each a `redis-server`
on loopback with its own directory, `nodes.conf` and AOF (fsync everysec).

A node can be killed (-9) and restarted on its port and directory: it rejoins as a
replica of whichever node took its slots. Every step waits on the cluster's own
view (`CLUSTER INFO`, `CLUSTER NODES`, `ROLE`) with a deadline, never a fixed sleep.
"""

from __future__ import annotations

import socket
import subprocess
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from pathlib import Path

import redis
from redis.crc import key_slot

from tests.redis_server import RedisServer, started_in_temp_dir
from tests.waiting import poll

NODES = 6  # 3 masters, each with 1 replica
SLOTS = 16384
BUS_OFFSET = 10000  # a node's cluster bus listens on its port + 10000
NODE_TIMEOUT_MS = 1000  # unreachable this long: suspected failing, so failover is quick
CREATE_TIMEOUT = 30.0
SETTLE_TIMEOUT = 30.0
FAILOVER_TIMEOUT = 20.0
FAILING_FLAGS = frozenset({"fail", "fail?", "handshake", "noaddr"})
NODE_OPTIONS = (
    "--cluster-enabled",
    "yes",
    "--cluster-config-file",
    "nodes.conf",  # in the node's --dir
    "--cluster-node-timeout",
    str(NODE_TIMEOUT_MS),
    # A cluster's durability is its replicas: a killed master's last writes are lost
    # to the failover whatever its fsync policy.
    "--appendfsync",
    "everysec",
    "--repl-diskless-sync-delay",
    "0",  # a (re)joining replica syncs at once, not after waiting 5 s for company
)


def cluster_ports(count: int) -> list[int]:
    """Free loopback ports whose bus port is free too; every socket stays bound until
    all are picked, so no port or bus port is picked twice."""
    ports: list[int] = []
    with ExitStack() as held:
        while len(ports) < count:
            sock = held.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
            if port + BUS_OFFSET > 65535:
                continue
            bus = held.enter_context(socket.socket())
            try:
                bus.bind(("127.0.0.1", port + BUS_OFFSET))
            except OSError:
                continue
            ports.append(port)
    return ports


@dataclass(frozen=True)
class Node:
    """One line of `CLUSTER NODES`, as far as the helper needs it."""

    port: int
    flags: frozenset[str]
    slots: tuple[range, ...]

    @property
    def is_master(self) -> bool:
        return "master" in self.flags

    @property
    def failing(self) -> bool:
        return bool(self.flags & FAILING_FLAGS)

    def serves(self, slot: int) -> bool:
        return any(slot in slots for slots in self.slots)


def parse_node(line: str) -> Node:
    """`<id> <ip:port@bus[,hostname]> <flags> <master> <ping> <pong> <epoch> <link> <slot>...`;
    migrating/importing slots (`[...]`) are left out."""
    fields = line.split()
    address = fields[1].split("@")[0]
    slots = tuple(_slot_range(token) for token in fields[8:] if not token.startswith("["))
    return Node(int(address.rsplit(":", 1)[1]), frozenset(fields[2].split(",")), slots)


def _slot_range(token: str) -> range:
    first, _, last = token.partition("-")
    return range(int(first), int(last or first) + 1)


def _client(port: int) -> redis.Redis:
    return redis.Redis(port=port, socket_timeout=2, decode_responses=True)


def cluster_nodes(port: int) -> list[Node]:
    """The cluster as the node on `port` sees it."""
    with _client(port) as client:
        text = client.execute_command("CLUSTER", "NODES")
    return [parse_node(line) for line in _lines(text)]


def cluster_info(port: int) -> dict[str, str]:
    with _client(port) as client:
        text = client.execute_command("CLUSTER", "INFO")
    return dict(line.split(":", 1) for line in _lines(text))


def _lines(text: object) -> list[str]:
    """The lines of a raw reply: `CLUSTER` and a subcommand as separate arguments get
    no redis-py response callback, whose shapes differ between versions."""
    assert isinstance(text, str), f"expected a raw reply, got {type(text).__name__}"
    return [line for line in text.splitlines() if line.strip()]


def replica_connected(port: int) -> bool:
    """`ROLE` of a replica: `slave <ip> <port> <state> <offset>`; a master is fine too."""
    with _client(port) as client:
        role = client.role()
    return bool(role[0] == "master" or role[3] == "connected")


class ClusterServers:
    """Six cluster nodes in `root`, one directory each; `start` creates the cluster."""

    def __init__(self, root: Path) -> None:
        self.nodes = {
            port: RedisServer(root / f"node-{port}", port, options=NODE_OPTIONS)
            for port in cluster_ports(NODES)
        }
        self._served: dict[int, tuple[range, ...]] = {}  # slots of killed nodes

    def start(self) -> None:
        for node in self.nodes.values():
            node.directory.mkdir()
            node.start()
        self._create()
        self._wait_settled()

    def _create(self) -> None:
        addresses = [f"127.0.0.1:{port}" for port in self.nodes]
        options = ["--cluster-replicas", "1", "--cluster-yes"]
        result = subprocess.run(
            ["redis-cli", "--cluster", "create", *addresses, *options],
            capture_output=True,
            text=True,
            timeout=CREATE_TIMEOUT,
        )
        if result.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed:\n{result.stdout}")

    @property
    def seed_url(self) -> str:
        """One live master: enough for a cluster client to discover the rest."""
        return f"redis://127.0.0.1:{self.masters()[0]}"

    def running(self) -> list[int]:
        return [port for port, node in self.nodes.items() if node.running]

    def view(self) -> list[Node]:
        """The cluster as its first live node sees it."""
        return cluster_nodes(self.running()[0])

    def masters(self) -> list[int]:
        """Ports of the masters serving slots that the cluster sees as up."""
        return sorted(n.port for n in self.view() if n.is_master and n.slots and not n.failing)

    def replicas(self) -> list[int]:
        return sorted(n.port for n in self.view() if "slave" in n.flags and not n.failing)

    def master_of(self, key: str) -> int:
        slot = key_slot(key.encode())
        return next(n.port for n in self.view() if n.is_master and n.serves(slot))

    def kill(self, port: int) -> None:
        """SIGKILL one node, remembering the slots it served for `wait_for_failover`."""
        self._served[port] = next(n.slots for n in self.view() if n.port == port)
        self.nodes[port].kill()

    def kill_master_of(self, key: str) -> int:
        port = self.master_of(key)
        self.kill(port)
        return port

    def wait_for_failover(self, dead: int, timeout: float = FAILOVER_TIMEOUT) -> int:
        """Wait until every live node names the same live node (a promoted replica) as
        the owner of the killed master's slots and says `cluster_state:ok`; its port."""
        slots = self._served[dead]
        if not slots:
            raise ValueError(f"node {dead} served no slots: there is nothing to fail over")
        slot = slots[0].start

        def promoted() -> int | None:
            live = self.running()
            owners = {self._owner(port, slot) for port in live}
            owner = owners.pop() if len(owners) == 1 else None
            if owner in live and all(cluster_info(p)["cluster_state"] == "ok" for p in live):
                return owner
            return None

        return poll(promoted, timeout, ignoring=(redis.RedisError,))

    def _owner(self, port: int, slot: int) -> int | None:
        """The master that the node on `port` sees serving `slot`, if it is not failing."""
        owner = next((n for n in cluster_nodes(port) if n.is_master and n.serves(slot)), None)
        return None if owner is None or owner.failing else owner.port

    def restart(self, port: int) -> None:
        """Bring a killed node back on its port and directory; it learns that its slots
        moved on and rejoins as a replica. Waits until the cluster has settled."""
        self.nodes[port].start()
        self._served.pop(port, None)
        self._wait_settled()

    def _wait_settled(self) -> None:
        poll(
            lambda: all(self._settled(port) for port in self.running()),
            SETTLE_TIMEOUT,
            ignoring=(redis.RedisError,),
        )

    def _settled(self, port: int) -> bool:
        """The node on `port` sees every slot served, every live node up (a master with
        slots, or a replica), and if it is a replica, it is in sync with its master."""
        info = cluster_info(port)
        if info["cluster_state"] != "ok" or int(info["cluster_slots_ok"]) != SLOTS:
            return False
        live = set(self.running())
        seen = [n for n in cluster_nodes(port) if n.port in live]
        return (
            len(seen) == len(live)
            and all(not n.failing and (n.slots or not n.is_master) for n in seen)
            and replica_connected(port)
        )

    def flushall(self) -> None:
        for port in self.masters():
            with _client(port) as client:
                client.flushall()

    def stop(self) -> None:
        for node in self.nodes.values():
            node.stop()


def cluster_servers() -> AbstractContextManager[ClusterServers]:
    return started_in_temp_dir("acs-redis-cluster-", ClusterServers)

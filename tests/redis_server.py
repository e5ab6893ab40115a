"""A real `redis-server` for tests: AOF on (fsync always), a temp dir, a free port.

It can be killed (-9) and restarted on the same port and data directory, and
paused (SIGSTOP) to play an unresponsive server. Extra `options` (cluster mode,
`--replicaof`) and subclasses overriding `command` (sentinels) reuse the same
start, wait and stop.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol, TypeVar

import redis

from tests.e2e.server import free_port

START_TIMEOUT = 20.0


class RedisServer:
    def __init__(
        self, directory: Path, port: int | None = None, *, options: Sequence[str] = ()
    ) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.options = tuple(options)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def command(self) -> list[str]:
        """The argv; `options` come last, so they override the defaults before them."""
        return [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            str(self.directory / "redis.log"),
            *self.options,
        ]

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            try:
                with redis.Redis(port=self.port, socket_timeout=1) as client:
                    if client.ping():
                        return
            except redis.ConnectionError:  # refused, or still loading the AOF
                pass
            time.sleep(0.02)
        raise TimeoutError("redis-server did not answer PING")

    def kill(self) -> None:
        """SIGKILL: no shutdown hook, only what the AOF holds survives."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def restart(self) -> None:
        self.kill()
        self.start()

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.resume()  # a stopped process ignores SIGTERM until continued
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


class Startable(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


S = TypeVar("S", bound=Startable)


@contextmanager
def started_in_temp_dir(prefix: str, make: Callable[[Path], S]) -> Iterator[S]:
    """`make(dir)` started, then stopped and its fresh temporary directory removed."""
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    made = make(directory)
    try:
        made.start()
        yield made
    finally:
        made.stop()
        shutil.rmtree(directory, ignore_errors=True)


def redis_server() -> AbstractContextManager[RedisServer]:
    return started_in_temp_dir("acs-redis-", RedisServer)

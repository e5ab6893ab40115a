"""Start the real server process on a free loopback port, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO

import httpx

from tests import crashes

START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    stderr: bytes = b""
    _chunks: list[bytes] = field(default_factory=list, repr=False)
    _drain: threading.Thread | None = field(default=None, repr=False)

    def start_draining(self) -> None:
        """Read stderr as it comes: a full pipe would block the server's next log line."""
        if self.process.stderr is not None:
            self._drain = threading.Thread(
                target=_read_all, args=(self.process.stderr, self._chunks), daemon=True
            )
            self._drain.start()

    def stop(self) -> int:
        """SIGTERM, then collect the exit status and everything written to stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(timeout=30)
        if self._drain is not None:
            self._drain.join(timeout=30)
            self.stderr = b"".join(self._chunks)
        crashes.check_process_log(self.stderr, self.base_url)
        return status


def _read_all(stream: IO[bytes], chunks: list[bytes]) -> None:
    with stream:
        while chunk := stream.read1(65536):  # type: ignore[attr-defined]
            chunks.append(chunk)


def wait_healthy(base_url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server at {base_url} exited with {process.returncode}")
        try:
            if httpx.get(f"{base_url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"server at {base_url} did not become healthy")


@contextmanager
def running_server(**env: str) -> Iterator[Server]:
    port = free_port()
    full_env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), **env}
    process = subprocess.Popen(
        [sys.executable, "-m", "agentic_commerce"],
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    server = Server(process, f"http://127.0.0.1:{port}")
    server.start_draining()
    try:
        wait_healthy(server.base_url, process)
        yield server
    finally:
        server.stop()

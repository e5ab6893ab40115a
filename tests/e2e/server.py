"""Start the real server process on a free loopback port, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

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

    def stop(self) -> int:
        """SIGTERM, then collect the exit status and everything written to stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        if self.process.stderr is not None and not self.process.stderr.closed:
            self.stderr = self.process.communicate(timeout=30)[1]
        return self.process.wait(timeout=30)


def wait_healthy(base_url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{base_url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise TimeoutError("server did not become healthy")


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
    try:
        wait_healthy(server.base_url, process)
        yield server
    finally:
        server.stop()

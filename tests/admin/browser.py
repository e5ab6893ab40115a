"""Headless Chromium driven over the DevTools protocol, for the console's browser tests.

The protocol runs on a pipe (`--remote-debugging-pipe`: JSON messages separated by
NUL bytes, Chromium reading fd 3 and writing fd 4), so no package is needed. A
test opens a page, navigates, runs scripts in it and waits for conditions on its
DOM (`eventually`: no fixed sleep); cookies are read and written at the browser
level, HttpOnly ones included.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.waiting import eventually

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
    "--remote-debugging-pipe",
)
# Puts the pipe's ends on fds 3 and 4 (where Chromium looks), then becomes Chromium.
ON_FDS_3_AND_4 = (
    "import fcntl, os, sys\n"
    "ends = [fcntl.fcntl(int(fd), fcntl.F_DUPFD, 10) for fd in sys.argv[1:3]]\n"
    "os.dup2(ends[0], 3)\n"
    "os.dup2(ends[1], 4)\n"
    "os.execv(sys.argv[3], sys.argv[3:])\n"
)
VIEWPORT = {"width": 1400, "height": 900, "deviceScaleFactor": 1, "mobile": False}
CALL_TIMEOUT = 30.0
CLOSE_TIMEOUT = 10.0


def chromium_binary() -> str:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail(
            "chromium is not installed: ./scripts/test installs the Debian package "
            "`chromium` (or run `apt-get install -y chromium`)"
        )
    return binary


class ProtocolError(Exception):
    """Chromium answered a call with an error."""


class Browser:
    def __init__(self, to_browser: trio.lowlevel.FdStream, from_browser: trio.lowlevel.FdStream):
        self._out = to_browser
        self._in = from_browser
        self._buffer = b""
        self._next_id = 0
        self._lock = trio.Lock()  # one call at a time: its answer is the next with its id

    async def call(self, method: str, params: dict[str, Any] | None = None, **where: str) -> Any:
        async with self._lock:
            self._next_id += 1
            message = {"id": self._next_id, "method": method, "params": params or {}, **where}
            await self._out.send_all(json.dumps(message).encode() + b"\0")
            with trio.fail_after(CALL_TIMEOUT):
                while True:
                    answer = await self._receive()
                    if answer.get("id") == self._next_id:
                        break  # anything else is an event nobody asked for
        if "error" in answer:
            raise ProtocolError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    async def _receive(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = await self._in.receive_some(65536)
            if not chunk:
                raise ProtocolError("chromium closed the pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return dict(json.loads(message))

    async def new_page(self) -> Page:
        target = await self.call("Target.createTarget", {"url": "about:blank"})
        attached = await self.call(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        page = Page(self, attached["sessionId"])
        await page.call("Emulation.setDeviceMetricsOverride", VIEWPORT)
        return page

    async def cookies(self) -> list[dict[str, Any]]:
        return list((await self.call("Storage.getCookies"))["cookies"])

    async def set_cookies(self, cookies: list[dict[str, Any]]) -> None:
        await self.call("Storage.setCookies", {"cookies": cookies})

    async def aclose(self) -> None:
        await self._out.aclose()
        await self._in.aclose()


class Page:
    def __init__(self, browser: Browser, session: str) -> None:
        self._browser = browser
        self._session = session

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        return await self._browser.call(method, params, sessionId=self._session)

    async def goto(self, url: str) -> None:
        await self.call("Page.navigate", {"url": url})
        await self.wait_for(
            f"location.href === {json.dumps(url)} && document.readyState !== 'loading'"
        )

    async def evaluate(self, expression: str) -> Any:
        """The value of a script in the page (awaited when it is a promise)."""
        result = await self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise ProtocolError(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, limit: float = 20.0) -> Any:
        """The first truthy value of `expression` in the page (a navigation in between
        is waited out)."""
        found: list[Any] = []

        async def holds() -> bool:
            try:
                value = await self.evaluate(expression)
            except ProtocolError:
                return False  # the page is being replaced
            found[:] = [value]
            return bool(value)

        try:
            await eventually(holds, limit=limit, step=0.05)
        except trio.TooSlowError:
            text = await self.evaluate("document.body ? document.body.innerText : ''")
            raise AssertionError(f"never true: {expression}\npage:\n{str(text)[:3000]}") from None
        return found[0]

    async def screenshot(self) -> bytes:
        """The whole page as a PNG."""
        size = (await self.call("Page.getLayoutMetrics"))["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = await self.call(
            "Page.captureScreenshot",
            {"format": "png", "clip": clip, "captureBeyondViewport": True},
        )
        return base64.b64decode(shot["data"])


@asynccontextmanager
async def chromium(profile: Path) -> AsyncIterator[Browser]:
    """A headless Chromium with a fresh profile, closed (or killed) at the end."""
    to_chromium, from_us = os.pipe()
    from_chromium, to_us = os.pipe()
    command = [
        sys.executable,
        "-c",
        ON_FDS_3_AND_4,
        str(to_chromium),
        str(to_us),
        chromium_binary(),
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        "about:blank",
    ]
    process = await trio.lowlevel.open_process(
        command,
        pass_fds=(to_chromium, to_us),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(to_chromium)
    os.close(to_us)
    browser = Browser(trio.lowlevel.FdStream(from_us), trio.lowlevel.FdStream(from_chromium))
    try:
        yield browser
    finally:
        with trio.move_on_after(CLOSE_TIMEOUT) as waited:
            with contextlib.suppress(ProtocolError):  # gone already
                await browser.call("Browser.close")
            await process.wait()
        if waited.cancelled_caught:
            process.kill()
            await process.wait()
        await browser.aclose()

"""Waiting on a condition, never a fixed sleep: one helper for trio tests (in trio
time, so instant under `MockClock`) and one for blocking code (threads, real
processes)."""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import trio

T = TypeVar("T")


async def eventually(
    condition: Callable[[], object | Awaitable[object]], *, limit: float = 15.0, step: float = 0.01
) -> None:
    """Return once `condition()` (sync or async) is truthy; fail after `limit`
    seconds of trio time."""
    with trio.fail_after(limit):
        while True:
            result = condition()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return
            await trio.sleep(step)


def poll(
    condition: Callable[[], T | None],
    timeout: float,
    *,
    interval: float = 0.05,
    ignoring: tuple[type[Exception], ...] = (),
) -> T:
    """The first truthy value of `condition()` within `timeout` wall seconds (errors
    of the `ignoring` kinds count as not yet)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except ignoring:
            value = None
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        time.sleep(interval)

"""Waiting on a condition with a deadline, never a bare sleep: a probe polled until it is accepted, failing
with the last value seen, and early when a process the wait depends on has died."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import httpx

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], timeout_s: float = 30.0,
                     interval_s: float = 0.1, watching: Sequence[subprocess.Popen[Any]] = ()) -> T:
    """Poll `probe` until `accept` holds; fail with the last value seen when the deadline passes, or at once
    when a process in `watching` has exited (waiting longer could not help)."""
    deadline = time.monotonic() + timeout_s
    while True:
        for process in watching:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        value = await probe()
        if accept(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s; last value: {value!r}")
        await asyncio.sleep(interval_s)


async def wait_ready(url: str, process: subprocess.Popen[Any], timeout_s: float = 90.0) -> None:
    """Until `url` answers 200 (a service's /readyz), failing early if the process died."""
    async with httpx.AsyncClient(timeout=2.0) as client:
        async def status() -> int:
            with contextlib.suppress(httpx.HTTPError):
                return (await client.get(url)).status_code
            return 0

        await eventually(status, lambda code: code == 200, timeout_s, 0.05, [process])

"""How a background service (the closer, the webhook worker) lives: until SIGTERM or SIGINT, which
cancels its work (what was in flight is rolled back or handed on: a transaction, a lease), and with its
health and metrics served on its own port meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager

from aiohttp import web

from meterflow.observability import Probe, health_app


async def until_stopped(work: Callable[[], Awaitable[None]]) -> None:
    """Run `work` until SIGTERM or SIGINT cancels it; a stop is a normal end, not an error."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await work()


@asynccontextmanager
async def health_served(probes: Mapping[str, Probe], host: str, port: int) -> AsyncIterator[None]:
    """`/healthz`, `/readyz` (every probe answers) and `/metrics` on `host:port` for the block."""
    runner = web.AppRunner(health_app(probes))
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    try:
        yield
    finally:
        await runner.cleanup()

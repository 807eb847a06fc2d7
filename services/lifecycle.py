"""How a background service (the closer, the webhook worker, the payment worker) lives: until SIGTERM or
SIGINT, which cancels its work (what was in flight is rolled back or handed on: a transaction, a lease), with
its health and metrics served on its own port meanwhile; and how a worker that claims due work from Postgres
loops (`claim_forever`)."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import asyncpg
from aiohttp import web

from meterflow.observability import Probe, health_app

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Runs in a forked child before exec (or first thing in a worker): SIGTERM it when the process that
    started it dies, so a supervisor killed outright leaves no orphan holding a port."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


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


log = logging.getLogger(__name__)
Work = TypeVar("Work")
QUEUE_AGE_EVERY_S = 1.0  # the queue-age gauge is one query: at most once a second, not every wake-up


@dataclass(frozen=True)
class ClaimLoop(Generic[Work]):
    """A worker that claims due work from Postgres (leased, `SKIP LOCKED`) and runs each claimed item as a
    task of its own, so a slow receiver or provider holds back only its own item, never the next claim."""

    name: str                                           # in the log of a failed round
    database_dsn: str
    channel: str                                        # the NOTIFY channel a change to the queue signals
    batch: int                                          # items in flight at most
    poll_interval_s: float                              # retries fall due without a notification
    claim: Callable[[int], Awaitable[Sequence[Work]]]   # up to n due items, leased to this worker
    run: Callable[[Work], Coroutine[Any, Any, None]]    # one item; its own failures are its own to report
    measure_queue_age: Callable[[], Awaitable[None]]


async def claim_forever(loop: ClaimLoop[Work]) -> None:
    """Wake on each notification (a lost listener connection is opened again next round) and at least
    every poll interval; an item that ends wakes the loop too, as its room may be claimed again then. A
    failed round is logged and retried at the next wake-up: its claims' leases expire and are claimed again."""
    wake = asyncio.Event()
    listener: asyncpg.Connection | None = None
    running: set[asyncio.Task[None]] = set()
    measured_at = 0.0

    def ended(task: asyncio.Task[None]) -> None:
        running.discard(task)
        wake.set()

    try:
        while True:
            try:
                if listener is None or listener.is_closed():
                    listener = await asyncpg.connect(loop.database_dsn)
                    await listener.add_listener(loop.channel, lambda *_: wake.set())
                wake.clear()
                room = loop.batch - len(running)
                for item in await loop.claim(room) if room > 0 else []:
                    task = asyncio.create_task(loop.run(item))
                    running.add(task)
                    task.add_done_callback(ended)
                if time.monotonic() - measured_at > QUEUE_AGE_EVERY_S:
                    await loop.measure_queue_age()
                    measured_at = time.monotonic()
            except Exception:
                log.exception("%s round failed; retrying", loop.name)
                if listener is not None:
                    listener.terminate()  # opened again next round: notifications may have been lost with it
                listener = None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), loop.poll_interval_s)
    finally:
        if listener is not None:
            listener.terminate()

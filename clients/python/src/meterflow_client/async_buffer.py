"""Buffered ingest for the async client: `async with client.events.buffer() as buffer: await
buffer.add(event)`. The same batching rules and reports as the sync buffer (`_batching.py`), sent by
background tasks of the running loop.

Flushed on `flush()`, on leaving the `async with` block and on `aclose()`. There is no flush at
interpreter shutdown here: an event loop cannot be resumed from an exit hook, so close the buffer
before the loop ends (`async with` does).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Unpack

from meterflow_client._batching import (
    Batch,
    Batches,
    BufferOptions,
    IngestFailed,
    call_back,
    delivering,
    undelivered,
)
from meterflow_client._transport import AsyncSender
from meterflow_client.resources.events import EventParams, Events, IngestResult


class AsyncEventBuffer:
    def __init__(self, sender: AsyncSender, options: BufferOptions) -> None:
        self._batches = Batches.from_options(options)
        self._options = options
        self._sender = AsyncSender(sender.client, sender.base_url, sender.api_key, delivering(sender.policy))
        self._cond = asyncio.Condition()
        self._closing = False
        self._tasks: list[asyncio.Task[None]] = []

    async def add(self, event: EventParams | Mapping[str, Any]) -> bool:
        """True once the buffer holds the event; False only with `overflow="drop"` and the buffer full."""
        self._start()
        async with self._cond:
            while (held := self._batches.offer(event, time.monotonic(), self._closing)) is None:
                await self._cond.wait()
            if held and self._batches.sender_must_wake():
                self._cond.notify_all()  # producers waiting for room share the condition: wake a sender too
            return held

    async def flush(self) -> None:
        """Returns once every event added so far is settled (recorded, or reported as failed)."""
        async with self._cond:
            self._batches.flushing = True
            self._cond.notify_all()
            await self._cond.wait_for(lambda: self._batches.unsettled == 0)
            self._batches.flushing = False
            self._batches.raise_failures()

    async def aclose(self) -> None:
        """Sends what waits, then stops; raises what failed (without `on_error`)."""
        async with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._tasks:
            _, late_tasks = await asyncio.wait(self._tasks, timeout=self._options.get("close_timeout_s", 60.0))
            for task in late_tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        async with self._cond:
            late = self._batches.take_waiting()
        if late.events:
            await self._settle(late, undelivered(late.events))
        async with self._cond:
            self._batches.close_spool()
            self._batches.raise_failures()

    @property
    def dropped(self) -> int:
        return self._batches.dropped

    async def __aenter__(self) -> AsyncEventBuffer:
        self._start()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        await self.aclose()

    def _start(self) -> None:
        """The senders start with the first use, inside the running loop."""
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._send_batches(), name=f"meterflow-buffer-{n}")
                           for n in range(self._options.get("concurrency", 1))]

    async def _next_batch(self) -> Batch | None:
        async with self._cond:
            while True:
                batch = self._batches.next_batch(time.monotonic(), self._closing)
                if batch is not None or (self._closing and not self._batches.waiting):
                    return batch
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._cond.wait(), self._batches.wake_in_s(time.monotonic()))

    async def _send_batches(self) -> None:
        while (batch := await self._next_batch()) is not None:
            ingest = Events.ingest
            call = ingest.build(batch.events)
            try:
                result: IngestResult | None = call.decode(await self._sender.send(ingest.request(call)))
                failure = None
            except Exception as exc:  # anything, a bug included: reported with the batch, never lost silently
                result, failure = None, IngestFailed(batch.events, exc)
            except asyncio.CancelledError:
                await self._settle(batch, undelivered(batch.events))
                raise
            call_back(self._options.get("on_result"), result)
            await self._settle(batch, failure)

    async def _settle(self, batch: Batch, failure: IngestFailed | None) -> None:
        async with self._cond:
            to_report = self._batches.settled(batch, failure)
            self._cond.notify_all()
        call_back(self._batches.on_error, to_report)



class AsyncEvents(Events[AsyncSender]):
    def buffer(self, **options: Unpack[BufferOptions]) -> AsyncEventBuffer:
        """A batching ingest buffer (options: `BufferOptions`); use it with `async with`."""
        return AsyncEventBuffer(self._sender, options)

"""Buffered ingest for the sync client: `with client.events.buffer() as buffer: buffer.add(event)`.

Events are batched (see `BufferOptions`) and sent by background threads with the client's retries, made
unbounded: a gateway that is away or restarting delays a batch, it does not lose it. The buffer is
flushed on `flush()`, on leaving the `with` block, on `close()` and at interpreter shutdown. Only a final
refusal, or a close that runs out of `close_timeout_s`, ends a batch unrecorded, and then it is reported
(`on_error`, or raised), with its events.
"""

from __future__ import annotations

import atexit
import functools
import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Unpack

from meterflow_client._batching import (
    Batch,
    Batches,
    BufferClosed,
    BufferOptions,
    IngestFailed,
    call_back,
    delivering,
    undelivered,
)
from meterflow_client._transport import SyncSender
from meterflow_client.resources.events import EventParams, Events, IngestResult


class EventBuffer:
    def __init__(self, sender: SyncSender, options: BufferOptions) -> None:
        self._batches = Batches.from_options(options)
        self._options = options
        self._abandon = threading.Event()
        self._sender = SyncSender(sender.client, sender.base_url, sender.api_key, delivering(sender.policy),
                                  sleep=self._pause)
        self._cond = threading.Condition()
        self._closing = False
        self._threads = [threading.Thread(target=self._send_batches, name=f"meterflow-buffer-{n}", daemon=True)
                         for n in range(options.get("concurrency", 1))]
        for thread in self._threads:
            thread.start()
        self._at_exit = functools.partial(EventBuffer.close, self)  # its own, so unregistering spares others
        atexit.register(self._at_exit)

    def add(self, event: EventParams | Mapping[str, Any]) -> bool:
        """True once the buffer holds the event; False only with `overflow="drop"` and the buffer full."""
        with self._cond:
            while (held := self._batches.offer(event, time.monotonic(), self._closing)) is None:
                self._cond.wait()
            if held and self._batches.sender_must_wake():
                self._cond.notify_all()  # producers waiting for room share the condition: wake a sender too
            return held

    def flush(self) -> None:
        """Returns once every event added so far is settled (recorded, or reported as failed)."""
        with self._cond:
            self._batches.flushing = True
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._batches.unsettled == 0)
            self._batches.flushing = False
            self._batches.raise_failures()

    def close(self) -> None:
        """Sends what waits, then stops; raises what failed (without `on_error`)."""
        with self._cond:
            if self._closing and not any(t.is_alive() for t in self._threads):
                self._batches.raise_failures()
                return
            self._closing = True
            self._cond.notify_all()
        deadline = time.monotonic() + self._options.get("close_timeout_s", 60.0)
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._abandon.set()
        for thread in self._threads:
            thread.join()
        atexit.unregister(self._at_exit)
        with self._cond:
            late = self._batches.take_waiting()
        if late.events:
            self._settle(late, undelivered(late.events))
        with self._cond:
            self._batches.close_spool()
            self._batches.raise_failures()

    @property
    def dropped(self) -> int:
        return self._batches.dropped

    def __enter__(self) -> EventBuffer:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def _pause(self, delay_s: float) -> None:
        if self._abandon.wait(delay_s):
            raise BufferClosed("closed before the batch was delivered")

    def _next_batch(self) -> Batch | None:
        with self._cond:
            while True:
                batch = self._batches.next_batch(time.monotonic(), self._closing)
                if batch is not None or (self._closing and not self._batches.waiting):
                    return batch
                self._cond.wait(self._batches.wake_in_s(time.monotonic()))

    def _send_batches(self) -> None:
        while (batch := self._next_batch()) is not None:
            ingest = Events.ingest
            call = ingest.build(batch.events)
            try:
                result: IngestResult | None = call.decode(self._sender.send(ingest.request(call)))
                failure = None
            except Exception as exc:  # anything, a bug included: reported with the batch, never lost silently
                result, failure = None, IngestFailed(batch.events, exc)
            call_back(self._options.get("on_result"), result)
            self._settle(batch, failure)

    def _settle(self, batch: Batch, failure: IngestFailed | None) -> None:
        with self._cond:
            to_report = self._batches.settled(batch, failure)
            self._cond.notify_all()
        call_back(self._batches.on_error, to_report)



class SyncEvents(Events[SyncSender]):
    def buffer(self, **options: Unpack[BufferOptions]) -> EventBuffer:
        """A batching ingest buffer (options: `BufferOptions`); use it as a context manager."""
        return EventBuffer(self._sender, options)

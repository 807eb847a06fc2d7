"""The processor's loop: take a fetch, settle it, commit it; two batches overlap, in a fixed order.

A batch's effect has two durable steps: its count (marks and rollups in one Redis transaction) and
then its events on record (one Postgres insert). The next batch may be counted as soon as the previous
one is *counted*, while the previous one goes on record: the counts still happen one batch after the
other, in the order taken, so "the first record of a key wins" holds across batches exactly as in one
sequential loop, and what waits on Postgres no longer holds the next count back. Its decoding and
catalog reads, which depend on no count, start even earlier: while the previous count waits on Redis.

The commit rule is unchanged: a batch is marked settled (its offsets offered to Faust's commit) only
after its own settle returned *and* the batch before it was marked settled, so an offset is never
committed before the effect of every record up to it is durable. At most two batches are in hand; a
revocation waits for both (transport.py). Why this design: docs/processor-design.md.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from meterflow.application.count_usage import BatchReport
from meterflow.domain.records import Record

Settle = Callable[[Sequence[Record]], Awaitable[BatchReport]]
Prepare = Callable[[Sequence[Record]], Awaitable[None]]  # `CountUsage.prepare`
Settled = Callable[[BatchReport, list[Record]], None]  # what to do once a batch is settled (metrics)


class BatchSource(Protocol):
    """What the loop needs of the consumer (transport.BatchConsumer; a fake in unit tests)."""

    @property
    def should_stop(self) -> bool: ...

    async def take(self, timeout_s: float) -> list[Record]: ...

    def settled(self, batch: Sequence[Record]) -> None: ...

    def dropped(self) -> None: ...


@dataclass
class CountSignal:
    """Tells the loop when the batch in flight is counted (`CountUsage.counted`). Matched by identity:
    halves of a batch being isolated are other lists, so during an isolation the next batch waits for
    the whole batch to settle."""

    waiting: dict[int, asyncio.Event] = field(default_factory=dict)

    def expect(self, records: Sequence[Record]) -> asyncio.Event:
        event = self.waiting[id(records)] = asyncio.Event()
        return event

    def counted(self, records: Sequence[Record]) -> None:
        event = self.waiting.get(id(records))
        if event is not None:
            event.set()

    def forget(self, records: Sequence[Record]) -> None:
        self.waiting.pop(id(records), None)


@dataclass
class _InFlight:
    records: list[Record]
    counted: asyncio.Event
    task: asyncio.Task[None]

    async def counted_or_done(self) -> None:
        """Once this batch is counted (or settled, or failed), the next one may start."""
        waiter = asyncio.ensure_future(self.counted.wait())
        try:
            await asyncio.wait([waiter, self.task], return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()


async def _nothing_ahead(records: Sequence[Record]) -> None:
    return None


async def count_batches(consumer: BatchSource, settle: Settle, signal: CountSignal, within_s: float,
                        after: Settled, prepare: Prepare = _nothing_ahead) -> None:
    """Runs for the agent's lifetime. While the previous batch is still counting, the next one is
    prepared (decoded, its customers and metrics read): that work needs no earlier count, so it runs
    while the previous count waits on Redis instead of after it."""
    previous: _InFlight | None = None
    tasks: list[asyncio.Task[None]] = []  # at most two not done
    try:
        while True:
            records = await consumer.take(within_s)
            if not records:
                if consumer.should_stop:
                    return
                continue
            try:
                if previous is not None:
                    if not (previous.counted.is_set() or previous.task.done()):
                        # A failure here is the settle's to handle: the call prepares the batch again.
                        with contextlib.suppress(Exception):
                            await prepare(records)
                    await previous.counted_or_done()
                    if previous.task.done():
                        previous.task.result()  # a settle never raises but for a bug: let the agent crash
            except BaseException:
                consumer.dropped()  # never started: read again by whoever owns its partitions next
                raise
            counted = signal.expect(records)
            task = asyncio.ensure_future(_settle(consumer, settle, signal, records,
                                                 previous.task if previous else None, after))
            previous = _InFlight(records, counted, task)
            tasks = [t for t in tasks if not t.done()] + [task]
    finally:
        # At stop (or if the agent dies) the batches in hand are dropped: read again by the next owner.
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _settle(consumer: BatchSource, settle: Settle, signal: CountSignal, records: list[Record],
                  before: asyncio.Task[None] | None, after: Settled) -> None:
    try:
        try:
            report = await settle(records)
        finally:
            signal.forget(records)
        if before is not None:
            await before  # offsets in the order taken: never this batch's before the previous one's
    except BaseException:
        consumer.dropped()
        raise
    consumer.settled(records)
    after(report, records)

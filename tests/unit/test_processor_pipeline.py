"""The processor's loop (services/processor/pipeline.py), with a fake consumer and a scripted settle.

What must hold (docs/processor-design.md): a batch's offsets are offered for commit only after its own
settle returned and every batch taken before it was settled; the next batch starts counting only once
the previous one is counted (or settled); at stop, batches in hand are dropped, never settled.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from meterflow.application.count_usage import BatchReport
from meterflow.domain.records import Record
from services.processor.pipeline import CountSignal, count_batches


def batch(first: int, n: int = 2) -> list[Record]:
    return [Record("events.test", 0, offset, 0, None, b"{}") for offset in range(first, first + n)]


@dataclass
class FakeConsumer:
    """Hands out the given batches, then nothing; records what was settled and dropped."""

    batches: list[list[Record]]
    settled_offsets: list[int] = field(default_factory=list)
    dropped_count: int = 0
    stopping: bool = False

    @property
    def should_stop(self) -> bool:
        return self.stopping and not self.batches

    async def take(self, timeout_s: float) -> list[Record]:
        await asyncio.sleep(0)
        return self.batches.pop(0) if self.batches else []

    def settled(self, batch: Sequence[Record]) -> None:
        self.settled_offsets.append(batch[-1].offset)

    def dropped(self) -> None:
        self.dropped_count += 1


@dataclass
class ScriptedSettle:
    """Each batch is counted when its `count` gate opens, and settles when its `done` gate opens."""

    signal: CountSignal
    started: list[int] = field(default_factory=list)
    count: dict[int, asyncio.Event] = field(default_factory=dict)
    done: dict[int, asyncio.Event] = field(default_factory=dict)

    def gates(self, first_offset: int) -> tuple[asyncio.Event, asyncio.Event]:
        return (self.count.setdefault(first_offset, asyncio.Event()),
                self.done.setdefault(first_offset, asyncio.Event()))

    async def __call__(self, records: Sequence[Record]) -> BatchReport:
        first = records[0].offset
        self.started.append(first)
        count, done = self.gates(first)
        await count.wait()
        self.signal.counted(records)
        await done.wait()
        return BatchReport()


async def until(condition: Callable[[], bool], *, rounds: int = 200) -> None:
    for _ in range(rounds):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


async def test_the_next_batch_starts_once_the_previous_is_counted_and_settles_only_after_it() -> None:
    consumer, signal = FakeConsumer([batch(0), batch(2)]), CountSignal()
    settle = ScriptedSettle(signal)
    loop = asyncio.ensure_future(count_batches(consumer, settle, signal, 0.01, lambda report, records: None))
    await until(lambda: settle.started == [0])
    for _ in range(20):
        await asyncio.sleep(0)
    assert settle.started == [0]  # not counted yet: the second batch waits
    settle.gates(0)[0].set()
    await until(lambda: settle.started == [0, 2])
    count_2, done_2 = settle.gates(2)
    count_2.set()
    done_2.set()  # the second batch is durable first…
    for _ in range(20):
        await asyncio.sleep(0)
    assert consumer.settled_offsets == []  # …but its offsets wait for the first batch
    settle.gates(0)[1].set()
    await until(lambda: consumer.settled_offsets == [1, 3])
    consumer.stopping = True
    await asyncio.wait_for(loop, 1)
    assert consumer.dropped_count == 0


async def test_the_next_batch_is_prepared_while_the_previous_counts_and_counted_only_after_it() -> None:
    """Decoding and catalog reads need no earlier count: they overlap the previous batch's count, while
    the count itself (and every step after) still waits for it."""
    consumer, signal = FakeConsumer([batch(0), batch(2)]), CountSignal()
    settle, prepared = ScriptedSettle(signal), list[int]()

    async def prepare(records: Sequence[Record]) -> None:
        prepared.append(records[0].offset)
        if records[0].offset == 2:
            raise RuntimeError("the catalog is away")  # the settle meets it again and handles it

    loop = asyncio.ensure_future(count_batches(consumer, settle, signal, 0.01, lambda report, records: None,
                                               prepare))
    await until(lambda: prepared == [2])
    assert settle.started == [0]  # prepared, not started: the first batch is not counted yet
    settle.gates(0)[0].set()
    await until(lambda: settle.started == [0, 2])
    for gate in (*settle.gates(0), *settle.gates(2)):
        gate.set()
    await until(lambda: consumer.settled_offsets == [1, 3])
    consumer.stopping = True
    await asyncio.wait_for(loop, 1)
    assert prepared == [2]  # the first batch had nothing to overlap: its settle prepared it


async def test_a_batch_not_yet_counted_holds_the_next_one_until_it_settles() -> None:
    consumer, signal = FakeConsumer([batch(0), batch(2)]), CountSignal()
    settle = ScriptedSettle(signal)

    async def never_counted(records: Sequence[Record]) -> BatchReport:
        if records[0].offset == 0:  # a batch being isolated: its halves are other lists, no signal
            settle.started.append(0)
            await settle.gates(0)[1].wait()
            return BatchReport()
        return await settle(records)

    loop = asyncio.ensure_future(count_batches(consumer, never_counted, signal, 0.01, lambda report, records: None))
    await until(lambda: settle.started == [0])
    for _ in range(20):
        await asyncio.sleep(0)
    assert settle.started == [0]
    settle.gates(0)[1].set()
    await until(lambda: settle.started == [0, 2])
    for gate in settle.gates(2):
        gate.set()
    await until(lambda: consumer.settled_offsets == [1, 3])
    consumer.stopping = True
    await asyncio.wait_for(loop, 1)


async def test_at_stop_the_batches_in_hand_are_dropped_never_settled() -> None:
    consumer, signal = FakeConsumer([batch(0), batch(2)]), CountSignal()
    settle = ScriptedSettle(signal)
    loop = asyncio.ensure_future(count_batches(consumer, settle, signal, 0.01, lambda report, records: None))
    await until(lambda: settle.started == [0])
    settle.gates(0)[0].set()
    await until(lambda: settle.started == [0, 2])
    loop.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await loop
    for _ in range(20):
        await asyncio.sleep(0)
    assert consumer.settled_offsets == [] and consumer.dropped_count == 2

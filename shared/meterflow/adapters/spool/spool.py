"""The spool as ingest's durable publisher: append → fsync (shared) → 202, forwarded to Kafka behind.

`publish` returns once the batch is on disk and, while the event log is up, once Kafka acknowledged it
too (acks=all), for at most `forward_wait_s`: on Apache Kafka an acknowledged event is then replicated
as before, and on disk besides. While the event log is away, `publish` returns as soon as the batch is
on disk, and refuses (`SpoolFull`, a 503) once the disk budget is used up.

One spool per gateway process: `claim` gives each process of a gateway its own directory under
MF_SPOOL_DIR (`worker-0`, `worker-1`, …), held by an exclusive lock for the life of the process, so two
processes never append to one log and a restarted worker takes up a directory left by a dead one.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import count
from pathlib import Path

from meterflow.adapters.spool.broker import SpoolBroker
from meterflow.adapters.spool.forwarder import Forwarder
from meterflow.adapters.spool.frames import SpooledBatch
from meterflow.adapters.spool.log import SpoolLog
from meterflow.adapters.spool.state import SpoolState
from meterflow.clock import Clock
from meterflow.domain.errors import Unavailable
from meterflow.domain.events import Event, event_to_json
from meterflow.domain.modes import Mode
from meterflow.logs import request_id

LOCK_FILE = "lock"


def claim(base: Path) -> tuple[Path, int]:
    """The first worker directory under `base` no live process holds, and the descriptor of its lock
    (kept open for the life of the process; the kernel frees the lock when the process dies)."""
    base.mkdir(parents=True, exist_ok=True)
    for index in count():
        directory = base / f"worker-{index}"
        directory.mkdir(exist_ok=True)
        fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return directory, fd
    raise AssertionError("unreachable")


def _right_sized(value: bytes) -> bytes:
    """A copy of `value` in an allocation of its own size. The encoder's output keeps more than its
    length (orjson's its whole 4 KB write buffer; msgspec's ~450 B of memory for a 244 B event, the copy
    ~290), and the spool keeps every event in memory until it is known counted: at 30,000 events/s
    orjson's was ~120 MB a second of lag, and the gateway spent ~2 µs an event in the kernel faulting
    fresh pages in for it."""
    return bytes(memoryview(value))


@dataclass(frozen=True)
class SpoolOptions:
    max_bytes: int
    segment_bytes: int
    forward_wait_s: float
    confirm_interval_s: float


@dataclass(frozen=True)
class SpoolFigures:
    """What readiness and the metrics show."""

    bytes: int
    events: int  # acknowledged, not yet known to be counted
    oldest_unforwarded_age_s: float  # 0 when every event is in Kafka
    full: bool  # refusing batches for the budget until something is freed


class Spool:
    def __init__(self, directory: Path, lock_fd: int, broker: SpoolBroker, topics: dict[Mode, str],
                 options: SpoolOptions, clock: Clock) -> None:
        self._directory, self._lock_fd, self._broker = directory, lock_fd, broker
        self._options, self._clock = options, clock
        self._state = SpoolState.load(directory)
        self._log = SpoolLog(directory, options.segment_bytes, options.max_bytes)
        self._forwarder = Forwarder(broker, self._state.spool_id, topics, self._free_settled,
                                    options.confirm_interval_s, slow_after_s=options.forward_wait_s)
        self._next_seq = self._state.settled_through + 1
        self._running: asyncio.Task[None] | None = None

    @property
    def spool_id(self) -> str:
        """This spool's stable id: the first part of each delivery id it forwards (`<id>.<sequence>`)."""
        return self._state.spool_id

    async def open(self) -> None:
        """Read the log back (cutting a torn tail) and start forwarding whatever is not known counted."""
        batches = await asyncio.to_thread(self._log.open, self._state.folded_through)
        last = batches[-1].last_seq if batches else 0
        self._next_seq = max(self._state.settled_through, self._state.folded_through, last) + 1
        for batch in batches:
            if batch.last_seq > self._state.settled_through:
                self._forwarder.enqueue(batch)
        self._running = asyncio.create_task(self._forwarder.run(), name="spool-forwarder")

    async def publish(self, mode: Mode, events: Sequence[Event], received_at: datetime) -> None:
        batch = SpooledBatch(mode, self._next_seq, int(received_at.timestamp() * 1000), request_id.get() or "",
                             tuple((e.customer_id.encode(), _right_sized(event_to_json(e))) for e in events))
        self._log.append(batch)  # raises SpoolFull or Unavailable: nothing of the batch is acknowledged
        self._next_seq = batch.last_seq + 1
        delivery = self._forwarder.enqueue(batch)  # forwarding may start while the fsync runs
        await self._log.durable()
        if self._forwarder.healthy:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(delivery.forwarded), self._options.forward_wait_s)

    def acknowledged_by_hour(self) -> dict[tuple[Mode, datetime], int]:
        """Events appended (acknowledged, or about to be) per (mode, hour of received_at), since this spool
        directory was made: exact, durable with the log (segments deleted keep theirs in the state).

        An append whose fsync had not returned at a kill -9 is here if its frame reached the disk whole:
        its events were not acknowledged, yet they are forwarded and counted like any other."""
        totals = Counter(self._state.acknowledged)
        for segment in self._log.segments:
            totals.update(segment.acknowledged)
        return {(mode, datetime.fromtimestamp(hour, UTC)): n for (mode, hour), n in totals.items()}

    def figures(self) -> SpoolFigures:
        waiting = self._forwarder.pending
        oldest = (self._clock.now().timestamp() - waiting[0].batch.received_ms / 1000) if waiting else 0.0
        return SpoolFigures(self._log.bytes, self._forwarder.unsettled_events(), max(oldest, 0.0), self._log.refusing)

    async def check(self) -> None:
        """Readiness: the spool can take a batch."""
        if self.figures().full:
            raise Unavailable("the spool is full")

    async def _free_settled(self) -> None:
        """Record how far everything is counted, fold the counts of the segments it frees into the state,
        make that durable, and only then delete them (a crash in between deletes them at the next start)."""
        settled_through = self._forwarder.settled_before(self._next_seq)
        freed = self._log.take_settled(settled_through)
        state = SpoolState(self._state.spool_id, settled_through, self._state.folded_through,
                           Counter(self._state.acknowledged))
        for segment in freed:
            state.acknowledged.update(segment.acknowledged)
            state.folded_through = max(state.folded_through, segment.last_seq)
        await asyncio.to_thread(state.save, self._directory)
        # No await from here on: the counts move from the segments to the state in one step.
        self._state = state
        for segment in freed:
            self._log.delete(segment)

    async def close(self, drain_s: float) -> None:
        """Give the forwarder `drain_s` to hand waiting batches to Kafka (the rest goes at the next start),
        then stop; the log is flushed and the directory's lock released."""
        deadline = asyncio.get_running_loop().time() + drain_s
        while self._forwarder.pending and self._forwarder.healthy and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        if self._running is not None:
            self._running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._running
        await self._broker.close()
        self._log.close()
        os.close(self._lock_fd)

"""The state of a buffered ingest, without threads or tasks: which events wait, which batch goes next
and when, what has been settled. The sync buffer (a thread) and the async buffer (a task) each hold one
under their own lock and only decide *when to wake*; every rule is here, given `now`.

An event accepted by `add` stays counted in `unsettled` until its batch has an answer (reported to
`on_result`) or a final failure (reported to `on_error`, or raised): it is never forgotten silently.
"""

from __future__ import annotations

import logging
import os
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict, TypeVar

from meterflow_client._spool import Spool
from meterflow_client.errors import MeterflowError
from meterflow_client.resources.events import MAX_EVENTS_PER_BATCH, EventParams, IngestResult, keyed
from meterflow_client.retries import RetryPolicy

log = logging.getLogger("meterflow_client")
T = TypeVar("T")
Overflow = Literal["block", "drop"]
# Until delivered or refused for good: only `close_timeout_s` ends the attempts of a transient failure.
UNTIL_DELIVERED = 1 << 62


class BufferClosed(MeterflowError):
    """The buffer was closed (its `close_timeout_s` ran out) before the batch was delivered."""


def undelivered(events: list[dict[str, Any]]) -> IngestFailed:
    return IngestFailed(events, BufferClosed("closed before the batch was delivered"))


def delivering(policy: RetryPolicy) -> RetryPolicy:
    """The client's waits, without its limit on attempts."""
    return RetryPolicy(UNTIL_DELIVERED, policy.initial_delay_s, policy.max_delay_s, policy.max_retry_after_s)


def call_back(callback: Callable[[T], None] | None, value: T | None) -> None:
    """`callback(value)` when both are given. A callback that raises must not stop the sending: it is
    logged."""
    if callback is None or value is None:
        return
    try:
        callback(value)
    except Exception:
        log.exception("meterflow buffer callback %r raised", callback)


class IngestFailed(MeterflowError):
    """A batch the API refused for good (a 400 naming every event, a revoked key), or that could not be
    delivered before the buffer was closed: `events` are those not recorded."""

    def __init__(self, events: list[dict[str, Any]], cause: BaseException) -> None:
        super().__init__(f"{len(events)} events not ingested: {cause}")
        self.events, self.cause = events, cause


class BufferOptions(TypedDict, total=False):
    """`max_batch` events (≤ 1,000) or `flush_interval_s` after the oldest waiting one, whichever comes
    first. At most `max_buffered` events wait in memory: beyond it `add` blocks (`overflow="block"`, the
    default, which loses nothing) or refuses the event and returns False (`overflow="drop"`, chosen
    explicitly). `concurrency` batches are sent at once (default 1: batches arrive in the order their
    events were added; with more they may overtake each other, each event still counted once). Each
    answer goes to `on_result`; a batch that failed for good goes to `on_error`, or, without one, is
    raised by the next `add`, `flush` or `close`. `close_timeout_s` bounds the wait of `close` (and so of
    the context's exit) for undelivered batches. `spool_dir` keeps accepted events on disk until settled,
    so that a restarted producer sends what it had not (`_spool.py`); events undelivered at close stay
    there."""

    max_batch: int
    flush_interval_s: float
    max_buffered: int
    overflow: Overflow
    concurrency: int
    on_result: Callable[[IngestResult], None]
    on_error: Callable[[IngestFailed], None]
    close_timeout_s: float
    spool_dir: str | os.PathLike[str]


@dataclass
class Batch:
    events: list[dict[str, Any]]
    segments: Counter[int] = field(default_factory=Counter)  # spool segment → events of this batch in it


@dataclass
class Batches:
    max_batch: int = MAX_EVENTS_PER_BATCH
    flush_interval_s: float = 1.0
    max_buffered: int = 100_000
    overflow: Overflow = "block"
    waiting: deque[tuple[float, int, dict[str, Any]]] = field(default_factory=deque)  # (added at, segment, event)
    unsettled: int = 0
    dropped: int = 0
    flushing: bool = False
    failures: list[IngestFailed] = field(default_factory=list)
    on_error: Callable[[IngestFailed], None] | None = None
    spool: Spool | None = None

    @classmethod
    def from_options(cls, options: BufferOptions) -> Batches:
        batches = cls(options.get("max_batch", MAX_EVENTS_PER_BATCH), options.get("flush_interval_s", 1.0),
                      options.get("max_buffered", 100_000), options.get("overflow", "block"),
                      on_error=options.get("on_error"))
        if not 1 <= batches.max_batch <= MAX_EVENTS_PER_BATCH or batches.max_buffered < batches.max_batch:
            raise ValueError(f"1 ≤ max_batch ≤ {MAX_EVENTS_PER_BATCH} and max_buffered ≥ max_batch")
        if batches.overflow not in ("block", "drop"):
            raise ValueError("overflow is 'block' or 'drop'")
        if "spool_dir" in options:
            batches.spool = Spool(options["spool_dir"])
            for segment, event in batches.spool.recover():  # due at once: they are the oldest
                batches.waiting.append((float("-inf"), segment, event))
                batches.unsettled += 1
        return batches

    def offer(self, event: EventParams | Mapping[str, Any], now: float, closing: bool) -> bool | None:
        """True: the event is held (keyed now, so every attempt of its batch carries the same key).
        False: dropped, the buffer being full under `overflow="drop"`. None: full, wait for room. Raises
        the failures kept so far, and on an `add` after close."""
        self.raise_failures()
        if closing:
            raise BufferClosed("add after close")
        if self.unsettled >= self.max_buffered:
            if self.overflow == "block":
                return None
            self.dropped += 1
            return False
        held = keyed(event)
        self.waiting.append((now, self.spool.write(held) if self.spool else 0, held))
        self.unsettled += 1
        return True

    def sender_must_wake(self) -> bool:
        """After an `offer`: only the first waiting event (the senders may be asleep without a deadline)
        and each full batch change what a sender would do; waking one per event would cost a thread
        switch per event."""
        return len(self.waiting) == 1 or len(self.waiting) % self.max_batch == 0

    def next_batch(self, now: float, closing: bool) -> Batch | None:
        """A batch when one is due: full, old enough, or everything waiting on flush and close."""
        if not self.waiting:
            return None
        due = (len(self.waiting) >= self.max_batch or closing or self.flushing
               or now - self.waiting[0][0] >= self.flush_interval_s)
        if not due:
            return None
        taken = [self.waiting.popleft() for _ in range(min(self.max_batch, len(self.waiting)))]
        return Batch([event for _, _, event in taken], Counter(segment for _, segment, _ in taken))

    def wake_in_s(self, now: float) -> float | None:
        """How long the sender may sleep before a batch falls due by age (None: nothing waits)."""
        return None if not self.waiting else max(0.0, self.waiting[0][0] + self.flush_interval_s - now)

    def settled(self, batch: Batch, failure: IngestFailed | None = None) -> IngestFailed | None:
        """The batch has its answer or its final failure. A failure is kept here, to be raised by the next
        call of the buffer, unless there is an `on_error` to hand it to: then it is returned for that
        (called once the buffer's lock is released). The spool lets the batch go, unless it was only cut
        short by a close: then the next buffer on the spool sends it."""
        self.unsettled -= len(batch.events)
        if self.spool is not None and not (failure is not None and isinstance(failure.cause, BufferClosed)):
            self.spool.release(batch.segments)
        if failure is None or self.on_error is not None:
            return failure
        self.failures.append(failure)
        return None

    def raise_failures(self) -> None:
        """Every failure kept since the last call, raised as one (their events together)."""
        taken, self.failures = self.failures, []
        if taken:
            raise IngestFailed([e for f in taken for e in f.events], taken[0].cause)

    def take_waiting(self) -> Batch:
        """On a close that ran out of time: what still waits, to be reported as not delivered."""
        taken = Batch([event for _, _, event in self.waiting], Counter(segment for _, segment, _ in self.waiting))
        self.waiting.clear()
        return taken

    def close_spool(self) -> None:
        if self.spool is not None:
            self.spool.close()

"""How many edge recounts run, and how long a caller waits for them (docs/usage-edges.md).

Folding an edge from the events on record can take a minute in a busy hour, and a gateway that serves
ingest on the same event loop must never spend that loop on it nor let callers pile such work up. So:

- at most `slots` recounts run at once in a process, and at most `queue` callers that started recounts
  wait at once: past that a caller that would start more is answered Unavailable (503 with Retry-After)
  at once, never queued without end. The queue counts callers, not recounts: one caller may need many
  small ones (a usage listing of a thousand customers), and callers joining a recount add none;
- callers asking for the same recount share it (one fold, however many callers);
- a caller waits at most `wait_s` (None: as long as it takes, the closer's case). Past it the caller is
  answered Unavailable and the recount goes on, so the retry finds its figure kept (at most `queue`
  recounts go on so, for nobody waiting);
- a caller that goes away (its task cancelled: the client disconnected) stops the recount, unless
  another caller still waits for it or one was told to come back for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, TypeVar

from meterflow.domain.errors import Unavailable

T = TypeVar("T")
log = logging.getLogger(__name__)


class RecountOutcome(StrEnum):
    """What became of a recount, or of a caller's ask for one (a metric for ops)."""

    FOLDED = "folded"  # finished
    CANCELLED = "cancelled"  # its last caller went away (or the process stopped)
    FAILED = "failed"  # the record could not be read or the figure kept
    DEFERRED = "deferred"  # a caller waited past wait_s: answered Unavailable, the recount goes on
    REFUSED = "refused"  # `queue` callers that started recounts were waiting: answered Unavailable


def _unobserved(outcome: RecountOutcome) -> None:
    return None


@dataclass(frozen=True)
class RecountLimits:
    slots: int = 1
    queue: int = 1_000_000  # callers
    wait_s: float | None = None


@dataclass
class _Recount(Generic[T]):
    task: asyncio.Task[T]
    waiters: int = 0
    promised: bool = False  # a caller was told to retry: the recount must finish for it

    def leave(self) -> None:
        self.waiters -= 1
        if self.waiters == 0 and not self.promised:
            self.task.cancel()


@dataclass
class EdgeRecounts(Generic[T]):
    limits: RecountLimits = field(default_factory=RecountLimits)
    observe: Callable[[RecountOutcome], None] = _unobserved
    _running: dict[Hashable, _Recount[T]] = field(default_factory=dict, init=False)
    _slots: asyncio.Semaphore = field(init=False)
    _starters: int = field(default=0, init=False)  # callers waiting that started recounts
    _promised: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._slots = asyncio.Semaphore(self.limits.slots)

    @property
    def under_way(self) -> int:
        return len(self._running)

    async def results(self, work: Sequence[tuple[Hashable, Callable[[], Awaitable[T]]]]) -> list[T]:
        """Each recount's result, in order; `work` names each recount by a key (callers with the same key
        share one) and says how to start it."""
        if not work:
            return []
        # Only a caller that brings new work counts against the queue: joining a recount under way adds
        # none (a hundred drafts of one period at once share one fold).
        starts = any(key not in self._running for key, _ in work)
        if starts and self._starters >= self.limits.queue:
            self.observe(RecountOutcome.REFUSED)
            raise Unavailable(f"{self._starters} usage calls are waiting for their recounts; retry later")
        self._starters += starts
        joined: list[_Recount[T]] = []
        try:
            joined = [self._join(key, start) for key, start in work]
            async with asyncio.timeout(self.limits.wait_s):
                # shield: a caller's timeout or cancellation is decided below, never by the await itself.
                return [await asyncio.shield(recount.task) for recount in joined]
        except TimeoutError:
            for recount in joined:
                self._promise(recount)
            self.observe(RecountOutcome.DEFERRED)
            raise Unavailable("usage of this period's edge hours is being recounted from the events on record; "
                              "retry after the time in Retry-After") from None
        finally:
            self._starters -= starts
            for recount in joined:
                recount.leave()

    def _promise(self, recount: _Recount[T]) -> None:
        """Keep a recount going for a caller told to retry; at most `queue` of them at once (past that, one
        nobody waits for stops, and a retry starts it again)."""
        if not recount.promised and not recount.task.done() and self._promised < self.limits.queue:
            recount.promised = True
            self._promised += 1

    def _join(self, key: Hashable, start: Callable[[], Awaitable[T]]) -> _Recount[T]:
        recount = self._running.get(key)
        if recount is None:
            recount = self._running[key] = _Recount(asyncio.create_task(self._run(start)))
            recount.task.add_done_callback(lambda task: self._finished(key, task))
        recount.waiters += 1
        return recount

    async def _run(self, start: Callable[[], Awaitable[T]]) -> T:
        async with self._slots:
            return await start()

    def _finished(self, key: Hashable, task: asyncio.Task[T]) -> None:
        recount = self._running.pop(key, None)
        if recount is not None and recount.promised:
            self._promised -= 1
        if task.cancelled():
            self.observe(RecountOutcome.CANCELLED)
        elif task.exception() is not None:
            # Read here, so a recount nobody waits for any more still reports its failure.
            log.warning("a usage recount failed: %r", task.exception())
            self.observe(RecountOutcome.FAILED)
        else:
            self.observe(RecountOutcome.FOLDED)

    async def aclose(self) -> None:
        """Stop every recount (the process is stopping)."""
        tasks = [recount.task for recount in self._running.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

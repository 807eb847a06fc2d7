"""What the processor does when counting a batch fails: the one table from failure to consumer action.

| failure | action |
|---|---|
| `Unavailable` (a dependency unreachable or too slow) | RETRY the batch with backoff until it returns |
| anything else (`FieldError`, `Conflict`, `NotFound`, uncategorised) | ISOLATE: the records are suspected |

While it retries, readiness and a metric show the processor is not advancing (`progress.py`).

ISOLATE splits the batch in two and counts each half in order (bisection), down to the single records
that fail on their own; each is dead-lettered with its reason (`processing_failed`) and every other
record is counted exactly once. A poison record therefore never blocks the records after it, and costs
about 2·log2(batch) extra calls. Halves run in offset order, so "the first event of a key wins" holds.

Exactly-once is kept: each call of the use case makes its own effect durable in one transaction before
returning, so a half counted before a later failure is found as duplicates when retried, and the
batch is acked only once `settle` returns. Library exceptions are categorised by the adapters
(`categorise`, handed in): this module imports none.

No dead-letter limit (Arroyo's `DlqLimit` stops the consumer when too many records fail). Stopping would
let any producer halt billing for everyone by sending enough bad records. Instead, failures of the
dependencies themselves (connections, timeouts, capacity, server shutdown) are classified as
`Unavailable` and retried, never dead-lettered, and `meterflow_dead_letters_total{reason}` is what ops
alert on; every dead letter keeps its bytes and source position, so it can be replayed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from meterflow.application.count_usage import BatchReport
from meterflow.application.ports.usage import DeadLetterSink
from meterflow.application.progress import Progress
from meterflow.domain.errors import ErrorCategory, MeterflowError, Unavailable
from meterflow.domain.records import DeadLetter, DeadLetterCategory, Record

log = logging.getLogger(__name__)

Handler = Callable[[Sequence[Record]], Awaitable[BatchReport]]
Categorise = Callable[[Exception], Exception]


class Action(StrEnum):
    RETRY = "retry"
    ISOLATE = "isolate"


ACTIONS: Mapping[ErrorCategory, Action] = {
    ErrorCategory.UNAVAILABLE: Action.RETRY,
    ErrorCategory.INVALID: Action.ISOLATE,
    ErrorCategory.NOT_FOUND: Action.ISOLATE,
    ErrorCategory.CONFLICT: Action.ISOLATE,
}


def action_for(error: Exception) -> Action:
    """Uncategorised failures isolate: if the records are not at fault, the dependency errors must be
    taught to the adapters' `categorise` as `Unavailable`."""
    return ACTIONS[error.category] if isinstance(error, MeterflowError) else Action.ISOLATE


@dataclass(frozen=True)
class Backoff:
    first_s: float = 0.1
    max_s: float = 5.0


class _Transient(Exception):
    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class FailurePolicy:
    handle: Handler
    dead_letters: DeadLetterSink
    progress: Progress
    categorise: Categorise
    backoff: Backoff = field(default_factory=Backoff)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    async def settle(self, records: Sequence[Record]) -> BatchReport:
        """Return only once every record is counted or dead-lettered, durably: the batch may be acked."""
        self.progress.taken(records)
        delay = self.backoff.first_s
        while True:
            try:
                report = await self._isolating(records)
            except _Transient as transient:
                self.progress.failed(transient.error)
                log.warning("batch of %d records: %r; retrying in %.1fs", len(records), transient.error, delay)
                await self.sleep(delay)
                delay = min(delay * 2, self.backoff.max_s)
                continue
            self.progress.settled(records)
            return report

    async def _isolating(self, records: Sequence[Record]) -> BatchReport:
        if not records:
            return BatchReport()
        try:
            return await self.handle(records)
        except Exception as exc:
            error = self.categorise(exc)
            if action_for(error) is Action.RETRY:
                raise _Transient(error) from exc
            if len(records) == 1:
                return await self._dead_letter(records[0], error)
            log.warning("batch of %d records failed (%r): isolating the record at fault", len(records), error)
        middle = len(records) // 2
        report = await self._isolating(records[:middle])
        report.extend(await self._isolating(records[middle:]))
        return report

    async def _dead_letter(self, record: Record, error: Exception) -> BatchReport:
        """Dead-letter a poison record; if even its letter cannot be sent (too large for the topic, say),
        send it without the value: its source position still points at the original. A dead-letter topic
        that refuses both is a broken dependency: retried like any outage, never skipped."""
        letter = DeadLetter(record, f"{type(error).__name__}: {error}", DeadLetterCategory.PROCESSING_FAILED)
        for attempt in (letter, _without_value(letter)):
            try:
                await self.dead_letters.send([attempt])
                return BatchReport(dead_letters=[attempt])
            except Exception as exc:
                failure = self.categorise(exc)
                if action_for(failure) is Action.RETRY:
                    raise _Transient(failure) from exc
        raise _Transient(Unavailable(f"the dead-letter topic refuses {record.topic}[{record.partition}]"
                                     f"@{record.offset} even without its value"))


def _without_value(letter: DeadLetter) -> DeadLetter:
    return DeadLetter(letter.record._replace(value=b""),
                      f"{letter.reason} (value left out: the letter could not be sent with it)", letter.category,
                      letter.idempotency_key)

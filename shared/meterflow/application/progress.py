"""Is the processor advancing? The age of its oldest record taken but not yet counted or dead-lettered.

Batches may overlap (the processor counts the next batch while the last one goes on record), so each
batch taken is tracked until it settles; the oldest record of any of them is the one that counts.

A processor retrying a batch (a dependency away) or stuck in any other way keeps that record unsettled,
so its age grows past `stall_after` and readiness and a metric show it; an idle or healthy processor
settles every batch within a fraction of a second. The age is measured from the record's broker
timestamp, so a processor catching up on a backlog older than `stall_after` shows as behind too.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from meterflow.clock import Clock
from meterflow.domain.records import Record


class Progress:
    def __init__(self, clock: Clock, stall_after: timedelta) -> None:
        self._clock = clock
        self._stall_after = stall_after
        self._oldest: dict[int, datetime] = {}  # id of a batch in hand → its oldest record's time
        self._last_failure: str | None = None

    def taken(self, records: Sequence[Record]) -> None:
        if records:
            self._oldest[id(records)] = min(records, key=lambda r: r.timestamp_ms).received_at

    def failed(self, error: Exception) -> None:
        self._last_failure = f"{type(error).__name__}: {error}"

    def settled(self, records: Sequence[Record]) -> None:
        self._oldest.pop(id(records), None)
        self._last_failure = None

    def oldest_unprocessed_age_s(self) -> float:
        if not self._oldest:
            return 0.0
        return max(0.0, (self._clock.now() - min(self._oldest.values())).total_seconds())

    @property
    def stalled(self) -> bool:
        return self.oldest_unprocessed_age_s() > self._stall_after.total_seconds()

    def status(self) -> dict[str, object]:
        """For /readyz: whether the processor advances, and the failure it is retrying, if any."""
        return {"stalled": self.stalled, "oldest_unprocessed_age_s": round(self.oldest_unprocessed_age_s(), 3),
                "stall_after_s": self._stall_after.total_seconds(), "retrying": self._last_failure}

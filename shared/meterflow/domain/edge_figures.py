"""Edge figures: what a metric counts in one partial hour of a period, folded once from the events on
record and kept while that hour's record is unchanged (docs/usage-edges.md).

A period to the second is whole hours (the rollups) plus at most two edges, each inside one UTC hour
(`exact_periods.split`). Folding an edge reads every event of it, millions in a busy hour; but the
events on record of an hour only ever grow (the processor's count, a backfill), and every write bumps
the hour's version in the same statement. So a figure folded after reading version v is the exact
figure of its edge for as long as the version is still v: it is used then, and never otherwise.
`unique` keeps the distinct values themselves, so the period's union stays exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period, align_to_hour
from meterflow.domain.rollups import Rollup


@dataclass(frozen=True)
class Edge:
    """One partial hour of a period for one metric (read from `event_name`) and customer."""

    mode: Mode
    metric_id: str
    customer_id: str
    event_name: str
    period: Period

    @property
    def hour(self) -> datetime:
        """The UTC hour the edge lies in, whose version says whether a kept figure still holds."""
        return align_to_hour(self.period.start)


@dataclass(frozen=True)
class EdgeFigure:
    rollup: Rollup
    values: frozenset[str]


@dataclass(frozen=True)
class EdgeState:
    """The edge's hour's version now, and the figure kept for the edge if it was folded at that version."""

    version: int
    figure: EdgeFigure | None


def usable(version_now: int, version_kept: int | None) -> bool:
    """A kept figure holds only at the version it was folded at: any row written to its hour since
    bumped the version, and a figure folded before that write may lack the row."""
    return version_kept is not None and version_kept == version_now


@dataclass(frozen=True)
class EdgeRules:
    """Which edges need the events on record at all, and which folds are worth keeping."""

    # An edge folded from fewer events is not kept: folding it again costs less than keeping it, and
    # windows asked at random seconds do not fill the table.
    keep_from_events: int
    # How far ahead of its receipt an event's timestamp may be (the acceptance policy's tolerance).
    future_tolerance: timedelta

    def worth_keeping(self, rollup: Rollup) -> bool:
        return rollup.events + rollup.unbillable >= self.keep_from_events

    def known_empty(self, period: Period, version: int, now: datetime) -> bool:
        """An edge ahead of the furthest timestamp ingest accepts now, in an hour nothing was ever written
        to (version 0), has no event on record: the end edge of a current period is not read at all. Both
        are needed: a producer writing to Kafka directly sets the receipt time itself, so an event may be
        stamped further ahead, and rows older than the versions never moved one."""
        return version == 0 and period.start > now + self.future_tolerance

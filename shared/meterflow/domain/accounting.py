"""Every event accounted for (docs/accounting.md): the per-hour figures and the rules that read them.

For every hour of receipt and mode, each acknowledged event ends in exactly one outcome, so

    acknowledged = counted + duplicates + dead_lettered + lost + in_flight

and `in_flight` falls to 0 once the processor has caught up. `lost` is what a check found acknowledged
but gone from the broker for good (an embedded, memory-only broker that restarted while the processor
lagged): it is never inferred from a gap alone, only recorded by that check, and stays until ops
acknowledge it.

The figures are counted where each outcome is decided (docs/accounting.md): acknowledged over HTTP by
the gateway once the event is durable, counted and duplicates in the processor's counting transaction,
dead letters once the dead-letter topic acknowledged them. A record written straight to the events topic
by a direct producer is acknowledged by the broker, not by meterflow, which learns of it only when the
processor reads it: such a record is acknowledged in the same write as its outcome, so it is never in
flight (and a broker that loses it before it is read cannot be told from one never written).

Pure: the stores hand in what they keep (`HourTally`), these functions derive the figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple

from meterflow.domain.errors import FieldError
from meterflow.domain.modes import Mode
from meterflow.domain.records import Record

HOUR = timedelta(hours=1)


class Source(StrEnum):
    """How an event reached the events topic: through the gateway (acknowledged there) or straight."""

    HTTP = "h"
    DIRECT = "d"


class Receipt(NamedTuple):
    """Where one record is accounted: its mode, the hour it was received, and how it came in."""

    mode: Mode
    hour: datetime
    source: Source


@lru_cache(maxsize=1_024)  # asked for every record, whose receipt times repeat (one per ingest request)
def hour_of(moment: datetime) -> datetime:
    """The start of the UTC hour holding `moment` (an hour of receipt)."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def receipt_of(record: Record, mode: Mode) -> Receipt:
    """A record's hour of receipt is its broker timestamp: the gateway sets it to the time it received
    the request, a direct producer to its send time (or the broker to its append time)."""
    return Receipt(mode, hour_of(record.received_at), Source.HTTP if record.from_gateway else Source.DIRECT)


def record_position(record: Record) -> str:
    """Names one record for good: its place in the topic, and its timestamp (a broker that restarted
    empty reuses offsets)."""
    return f"{record.topic}:{record.partition}:{record.offset}:{record.timestamp_ms}"


def hours_between(start: datetime, end: datetime) -> list[datetime]:
    """The whole hours from `start` up to, not including, `end` (both whole hours)."""
    count = int((end - start) / HOUR)
    return [start + i * HOUR for i in range(count)]


@dataclass(frozen=True)
class HourTally:
    """What the stores keep for one (mode, hour): the gateway's acknowledged count, and each outcome by
    source; `lost` as recorded by a loss check, `loss_acknowledged` how much of it ops have seen."""

    acknowledged_http: int = 0
    counted: Mapping[Source, int] | None = None
    duplicates: Mapping[Source, int] | None = None
    dead_lettered: Mapping[Source, int] | None = None
    lost: int = 0
    loss_acknowledged: int = 0

    def outcome(self, source: Source) -> int:
        return sum((figures or {}).get(source, 0) for figures in (self.counted, self.duplicates, self.dead_lettered))


def _total(figures: Mapping[Source, int] | None) -> int:
    return sum((figures or {}).values())


@dataclass(frozen=True)
class HourFigures:
    """One row of the reconciliation: the figures of one (mode, hour of receipt)."""

    hour: datetime
    acknowledged: int
    counted: int
    duplicates: int
    dead_lettered: int
    lost: int = 0
    loss_acknowledged: int = 0

    @property
    def in_flight(self) -> int:
        """Acknowledged and not yet settled. Negative only if an outcome was counted for an event whose
        acknowledgement was never tallied (a gateway killed between the broker's acknowledgement and
        its tally write, before the write-ahead spool): shown as it is, never hidden."""
        return self.acknowledged - self.counted - self.duplicates - self.dead_lettered - self.lost

    @property
    def unacknowledged_loss(self) -> int:
        return max(0, self.lost - self.loss_acknowledged)


def figures_of(hour: datetime, tally: HourTally) -> HourFigures:
    """Direct records are acknowledged by the very write of their outcome (see the module's docstring)."""
    return HourFigures(hour, tally.acknowledged_http + tally.outcome(Source.DIRECT), _total(tally.counted),
                       _total(tally.duplicates), _total(tally.dead_lettered), tally.lost, tally.loss_acknowledged)


def reconciliation_window(start: datetime | None, end: datetime | None, now: datetime,
                          longest: timedelta) -> tuple[datetime, datetime]:
    """The hours asked for: whole hours, `to` after `from`, no longer than the figures are kept; by
    default the last 24 hours (the current hour included)."""
    end = end if end is not None else hour_of(now) + HOUR
    start = start if start is not None else end - 24 * HOUR
    for name, moment in (("from", start), ("to", end)):
        if moment != hour_of(moment):
            raise FieldError(name, "must be a whole hour, e.g. 2026-02-25T10:00:00Z")
    if end <= start:
        raise FieldError("to", "must be after from")
    if end - start > longest:
        raise FieldError("to", f"the window is at most {int(longest / HOUR)} hours long (the accounting retention)")
    return start, end


def stalled(figures: HourFigures, now: datetime, stall_after: timedelta) -> bool:
    """An hour still in flight although it ended more than the stall threshold ago: the processor is
    not catching up, or events were lost (an alarm, `meterflow reconcile` exit 1)."""
    return figures.in_flight > 0 and figures.hour + HOUR + stall_after <= now


def oldest_in_flight_age(rows: Iterable[HourFigures], now: datetime) -> float:
    """Seconds since the end of the oldest hour that still has events in flight (0: none, or only the
    current hour): the gauge ops alert on past the stall threshold."""
    ended = [row.hour + HOUR for row in rows if row.in_flight > 0]
    return max(0.0, (now - min(ended)).total_seconds()) if ended else 0.0


def losses_found(rows: Iterable[HourFigures]) -> dict[datetime, int]:
    """For a loss check run while the memory-only broker is gone (or back empty) and no processor runs:
    nothing still in flight can ever be settled, so every hour's in-flight events are lost. Returns the
    events newly lost per hour."""
    return {row.hour: row.in_flight for row in rows if row.in_flight > 0}


@dataclass(frozen=True)
class LossReport:
    """Lost events ops have not acknowledged yet, per hour (readiness, metric and supervisor output)."""

    mode: Mode
    hours: dict[datetime, int]

    @property
    def events(self) -> int:
        return sum(self.hours.values())


def unacknowledged_losses(mode: Mode, rows: Iterable[HourFigures]) -> LossReport:
    return LossReport(mode, {row.hour: row.unacknowledged_loss for row in rows if row.unacknowledged_loss})

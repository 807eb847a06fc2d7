"""Every event accounted for (docs/accounting.md): the reconciliation per hour, dead letters tallied once they
are durable, and the check that turns a broker's loss into a recorded, visible figure.

The figures are kept where each outcome is decided (docs/accounting.md); this module only reads them,
applies the rules of `domain/accounting.py`, and writes two things: dead-letter tallies (after the
dead-letter topic acknowledged the letters) and losses (after a check proved them).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from meterflow.application.ports.usage import AccountingBook, DeadLetteredKeys, DeadLetterSink, DeadLetterTally
from meterflow.clock import Clock
from meterflow.domain.accounting import (
    HOUR,
    HourFigures,
    LossReport,
    figures_of,
    hour_of,
    hours_between,
    losses_found,
    oldest_in_flight_age,
    receipt_of,
    reconciliation_window,
    record_position,
    stalled,
    unacknowledged_losses,
)
from meterflow.domain.modes import Mode
from meterflow.domain.records import DeadLetter


@dataclass(frozen=True)
class AccountedDeadLetters:
    """The dead-letter sink, with each letter tallied once the topic acknowledged it: a crash before the
    tally sends the letter again on replay and tallies it then; a crash after it re-tallies the same
    record position, which changes nothing. Letters of a topic that is no events topic have no mode."""

    sink: DeadLetterSink
    tally: DeadLetterTally
    topic_modes: Mapping[str, Mode]
    # Where the letters' idempotency keys are remembered, once the letters are durable (None: nowhere).
    keys: DeadLetteredKeys | None = None

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        await self.sink.send(letters)
        await self.tally.dead_lettered([
            (receipt_of(letter.record, mode), record_position(letter.record), letter.category.value)
            for letter in letters if (mode := self.topic_modes.get(letter.record.topic)) is not None])
        if self.keys is not None:
            by_mode: dict[Mode, list[str]] = defaultdict(list)
            for letter in letters:
                if (mode := self.topic_modes.get(letter.record.topic)) is not None and letter.idempotency_key:
                    by_mode[mode].append(letter.idempotency_key)
            for mode, keys in by_mode.items():
                await self.keys.dead_lettered(mode, keys)


@dataclass(frozen=True)
class Reconciliation:
    """The figures per hour of receipt for one mode, and what they say: stalls, losses."""

    book: AccountingBook
    clock: Clock
    retention: timedelta
    stall_after: timedelta

    async def hours(self, mode: Mode, start: datetime | None = None, end: datetime | None = None
                    ) -> list[HourFigures]:
        """One row per whole hour of [start, end) (default: the last 24 hours, the current one included)."""
        start, end = reconciliation_window(start, end, self.clock.now(), self.retention)
        return await self._figures(mode, hours_between(start, end))

    async def kept(self, mode: Mode) -> list[HourFigures]:
        """Every hour whose figures may still be kept (the whole retention, up to the current hour)."""
        end = hour_of(self.clock.now()) + HOUR
        return await self._figures(mode, hours_between(end - HOUR * int(self.retention / HOUR) - HOUR, end))

    async def _figures(self, mode: Mode, hours: list[datetime]) -> list[HourFigures]:
        return [figures_of(hour, tally) for hour, tally in zip(hours, await self.book.tallies(mode, hours),
                                                               strict=True)]

    def stalled(self, rows: Sequence[HourFigures]) -> list[HourFigures]:
        """Past hours still in flight beyond the stall threshold."""
        now = self.clock.now()
        return [row for row in rows if stalled(row, now, self.stall_after)]

    def oldest_in_flight_age(self, rows: Sequence[HourFigures]) -> float:
        return oldest_in_flight_age(rows, self.clock.now())

    async def losses(self, mode: Mode) -> LossReport:
        """Lost events ops have not acknowledged yet."""
        return unacknowledged_losses(mode, await self.kept(mode))

    async def acknowledge_loss(self, mode: Mode) -> LossReport:
        """Ops have seen the losses: readiness and the lost-events gauge stop reporting them (the
        figures keep them). Returns what was acknowledged."""
        report = await self.losses(mode)
        await self.book.acknowledge_loss(mode, report.hours)
        return report


@dataclass(frozen=True)
class LossCheck:
    """Run while the embedded, memory-only broker is down (or has just started empty) and no processor
    runs: the broker held every acknowledged event not yet settled, so each one still in flight now can
    never be settled: it is lost, and recorded as such. Exact, because nothing moves meanwhile: the
    gateway cannot have an event acknowledged by a broker that is down, and with no processor no outcome
    is added."""

    reconciliation: Reconciliation

    async def __call__(self) -> list[LossReport]:
        return [await self._record(mode, await self.reconciliation.kept(mode)) for mode in Mode]

    async def _record(self, mode: Mode, rows: list[HourFigures]) -> LossReport:
        lost = losses_found(rows)
        if lost:
            recorded = {row.hour: row.lost for row in rows}
            await self.reconciliation.book.record_loss(mode, {hour: recorded[hour] + n for hour, n in lost.items()})
        return LossReport(mode, lost)

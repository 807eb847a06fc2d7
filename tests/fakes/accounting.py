"""An in-memory fake of the accounting store, for unit tests only; the contract suite
(tests/integration/test_accounting_contract.py) runs the same tests against the Redis adapter."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from meterflow.adapters.accounting_store import INTERIM_WRITER
from meterflow.domain.accounting import HourTally, Receipt, Source, hour_of
from meterflow.domain.counting import BatchOutcome
from meterflow.domain.modes import Mode

Hour = tuple[Mode, datetime]


@dataclass
class MemoryAccounting:
    acknowledged: dict[Hour, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    counted: dict[Hour, dict[Source, int]] = field(default_factory=lambda: defaultdict(dict))
    duplicates: dict[Hour, dict[Source, set[str]]] = field(default_factory=lambda: defaultdict(dict))
    dead_letters: dict[Hour, dict[Source, set[str]]] = field(default_factory=lambda: defaultdict(dict))
    lost: dict[Hour, int] = field(default_factory=dict)
    loss_acknowledged: dict[Hour, int] = field(default_factory=dict)

    def apply_outcome(self, outcome: BatchOutcome) -> None:
        """What the counting transaction writes (the Redis adapter does it inside `UsageStore.apply`)."""
        for event in outcome.counted:
            if event.receipt is not None:
                mode, hour, source = event.receipt
                self.counted[(mode, hour)][source] = self.counted[(mode, hour)].get(source, 0) + 1
        for event in outcome.duplicates:
            if event.receipt is not None and event.origin is not None:
                mode, hour, source = event.receipt
                self.duplicates[(mode, hour)].setdefault(source, set()).add(event.origin)

    async def add(self, mode: Mode, received_at: datetime, count: int) -> None:
        writers = self.acknowledged[(mode, hour_of(received_at))]
        writers[INTERIM_WRITER] = writers.get(INTERIM_WRITER, 0) + count

    async def publish(self, writer: str, counts: Mapping[tuple[Mode, datetime], int]) -> None:
        if writer == INTERIM_WRITER:
            raise ValueError(f"writer id {writer!r} is the interim tally's")
        for hour, count in counts.items():
            self.acknowledged[hour][writer] = count

    async def dead_lettered(self, letters: Sequence[tuple[Receipt, str, str]]) -> None:
        for (mode, hour, source), position, _ in letters:
            self.dead_letters[(mode, hour)].setdefault(source, set()).add(position)

    async def tallies(self, mode: Mode, hours: Sequence[datetime]) -> list[HourTally]:
        def sizes(sets: dict[Source, set[str]]) -> dict[Source, int]:
            return {source: len(sets.get(source, set())) for source in Source}

        return [HourTally(sum(self.acknowledged.get((mode, h), {}).values()),
                          {source: self.counted.get((mode, h), {}).get(source, 0) for source in Source},
                          sizes(self.duplicates.get((mode, h), {})), sizes(self.dead_letters.get((mode, h), {})),
                          self.lost.get((mode, h), 0), self.loss_acknowledged.get((mode, h), 0)) for h in hours]

    async def record_loss(self, mode: Mode, lost: Mapping[datetime, int]) -> None:
        self.lost |= {(mode, hour): count for hour, count in lost.items()}

    async def acknowledge_loss(self, mode: Mode, hours: Iterable[datetime]) -> int:
        seen = 0
        for hour in hours:
            lost, before = self.lost.get((mode, hour), 0), self.loss_acknowledged.get((mode, hour), 0)
            if lost > before:
                self.loss_acknowledged[(mode, hour)] = lost
                seen += lost - before
        return seen

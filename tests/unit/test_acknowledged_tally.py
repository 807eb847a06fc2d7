"""The gateway's acknowledged figure with the spool (services/gateway/acknowledged_tally.py): publishes of
absolute counts go one at a time, so the figure Redis keeps last is the latest count, never an older one
that took longer to land."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import cast

from meterflow.adapters.accounting_store import AccountingStore
from meterflow.adapters.spool.spool import Spool
from meterflow.domain.accounting import hour_of
from meterflow.domain.modes import Mode
from services.gateway.acknowledged_tally import SpoolAcknowledgements

AT = datetime(2026, 12, 5, 15, 20, tzinfo=UTC)
HOUR = (Mode.TEST, hour_of(AT))


class CountingSpool:
    spool_id = "sp1"

    def __init__(self) -> None:
        self.appended = 0

    def acknowledged_by_hour(self) -> dict[tuple[Mode, datetime], int]:
        return {HOUR: self.appended}


class FirstLandsLast:
    """Redis as two connections can make it: the first publish of the two lands after the second."""

    def __init__(self) -> None:
        self.kept: dict[tuple[Mode, datetime], int] = {}
        self.calls = 0

    async def publish(self, writer: str, counts: Mapping[tuple[Mode, datetime], int]) -> None:
        self.calls += 1
        if self.calls == 2:  # the first after the start's full publish
            await asyncio.sleep(0.05)
        self.kept |= counts


async def test_the_figure_kept_is_the_latest_count_when_two_publishes_race() -> None:
    spool, redis = CountingSpool(), FirstLandsLast()
    tally = SpoolAcknowledgements(cast(Spool, spool), cast(AccountingStore, redis))
    await tally.publish_all()

    async def batch_durable(events: int) -> None:
        spool.appended += events
        await tally.acknowledged(Mode.TEST, AT, events)

    await asyncio.gather(batch_durable(40), batch_durable(40))
    assert redis.kept[HOUR] == 80

"""The gateway's writers of the acknowledged figure (docs/accounting.md), told once a batch is durable.

With the write-ahead spool (the default) the spool's own counts are the truth: events appended per (mode,
hour of receipt), durable with the log and surviving kill -9 and segment deletion. They are published as
ABSOLUTE values under the spool's stable id, so a publish that failed, or a gateway killed between the
fsync and the publish, is made good by the next publish of that hour (and by a full publish at start);
publishing twice changes nothing.

Without the spool (MF_SPOOL_ENABLED=false), a batch is acknowledged when Kafka acknowledged it, and the
figure is an increment told right after. A gateway killed between the broker's acknowledgement and the
increment, or a Redis that does not take it in time, leaves the hour short of the truth, never silently:
logged, counted in `meterflow_acknowledged_tally_failures_total`, and shown as a negative in-flight figure
once the processor has caught up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from datetime import datetime

from redis.exceptions import RedisError

from meterflow.adapters.accounting_store import AccountingStore
from meterflow.adapters.spool.spool import Spool
from meterflow.domain.accounting import hour_of
from meterflow.domain.modes import Mode
from meterflow.observability import ACKNOWLEDGED_TALLY_FAILURES

TALLY_TIMEOUT_S = 1.0
log = logging.getLogger(__name__)


async def _told(write: Awaitable[None], count: int) -> bool:
    try:
        await asyncio.wait_for(write, TALLY_TIMEOUT_S)
    except (RedisError, TimeoutError) as exc:
        ACKNOWLEDGED_TALLY_FAILURES.inc(count)
        log.error("%d acknowledged events not tallied yet (%r)", count, exc)
        return False
    return True


class BrokerAcknowledgements:
    """Without a spool: an increment per batch, after Kafka acknowledged it."""

    def __init__(self, accounting: AccountingStore) -> None:
        self._accounting = accounting

    async def acknowledged(self, mode: Mode, received_at: datetime, count: int) -> None:
        await _told(self._accounting.add(mode, received_at, count), count)


class SpoolAcknowledgements:
    """With the spool: the spool's absolute count of the batch's hour, or every hour's after a failure.

    Publishes go one at a time, each reading the counts when its turn comes: two requests publishing at
    once over two Redis connections could land in either order, and an absolute count written last but
    read first would leave the hour short (in flight below zero) until the hour's next batch."""

    def __init__(self, spool: Spool, accounting: AccountingStore) -> None:
        self._spool, self._accounting = spool, accounting
        self._behind = True  # nothing published yet: the first publish carries every hour
        self._turn = asyncio.Lock()

    async def publish_all(self) -> None:
        async with self._turn:
            await self._publish_all()

    async def acknowledged(self, mode: Mode, received_at: datetime, count: int) -> None:
        async with self._turn:
            if self._behind:
                await self._publish_all()
                return
            hour = hour_of(received_at)
            counts = {(mode, hour): self._spool.acknowledged_by_hour()[(mode, hour)]}
            self._behind = not await _told(self._accounting.publish(self._spool.spool_id, counts), count)

    async def _publish_all(self) -> None:
        counts = self._spool.acknowledged_by_hour()
        self._behind = not await _told(self._accounting.publish(self._spool.spool_id, counts), 0)

"""The gateway's interim writer of the acknowledged tally (docs/accounting.md).

Called once per batch right after the broker acknowledged it (acks=all), where the acknowledged keys are
marked: the events are durable, so they are acknowledged, in the hour the gateway received them (the
Kafka timestamp it gave their records). Until the write-ahead spool publishes its own durable counts,
two windows make this tally short of the truth, never silently: a gateway killed between the broker's
acknowledgement and this write, and a Redis that does not take the write in time (logged as an error
and counted in `meterflow_acknowledged_tally_failures_total`). Either shows as an hour whose in-flight
figure is negative once the processor has caught up.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from redis.exceptions import RedisError

from meterflow.domain.modes import Mode
from meterflow.observability import ACKNOWLEDGED_TALLY_FAILURES
from services.gateway.context import GatewayContext

TALLY_TIMEOUT_S = 1.0
log = logging.getLogger(__name__)


async def tally_acknowledged(ctx: GatewayContext, mode: Mode, received_at: datetime, count: int) -> None:
    """Never fails the request: the events are already durable, and their 202 must not be lost."""
    try:
        await asyncio.wait_for(ctx.accounting.add(mode, received_at, count), TALLY_TIMEOUT_S)
    except (RedisError, TimeoutError) as exc:
        ACKNOWLEDGED_TALLY_FAILURES.inc(count)
        log.error("%d acknowledged events not tallied (%r): the reconciliation will be short of them",
                  count, exc)

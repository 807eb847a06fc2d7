"""The closer service's upkeep: the replay loop (jobs run here, in the background, one at a time), the
retention of the events on record and of delivered webhook events, and forgetting stored idempotent
answers past their 24 h."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from meterflow.adapters.edge_figure_repository import EdgeFigureRepository
from meterflow.adapters.event_record_repository import EventRecordRepository
from meterflow.adapters.idempotency_repository import IdempotencyRepository
from meterflow.adapters.webhook_event_repository import WebhookOutboxRepository
from meterflow.application.replay import Replayer
from meterflow.clock import Clock
from meterflow.domain.idempotency import KEPT_FOR

log = logging.getLogger(__name__)


async def replay_forever(replays: Replayer, idle_s: float, replayed: Callable[[], Awaitable[None]]) -> None:
    """Run jobs back to back while there are any; look again every `idle_s` otherwise. After each job
    completed, `replayed`: a replay changes usage without the processor, which evaluates alerts only for
    the usage it counts."""
    while True:
        try:
            job = await replays.run_next()
        except Exception:
            log.exception("replay job failed (marked failed with its reason)")
            job = None
        if job is None:
            await asyncio.sleep(min(idle_s, 1.0))
        else:
            log.info("replay job %s completed", job.id)
            await replayed()


async def drop_expired_events(record: EventRecordRepository, edges: EdgeFigureRepository, retention: timedelta,
                              clock: Clock) -> None:
    """Retention of the events on record: whole monthly partitions older than `retention` are dropped
    (a catalog operation, never a row-by-row delete), with the edge figures and hour versions of the
    same hours. Run with every close round."""
    cutoff = clock.now() - retention
    dropped = await record.drop_before(cutoff)
    if dropped:
        log.info("events on record past retention dropped: %s", ", ".join(dropped))
    await edges.forget_before(cutoff)


async def forget_expired_answers(answers: IdempotencyRepository, clock: Clock) -> None:
    """Stored answers to Idempotency-Key requests are kept 24 h (docs/api.md, "Idempotency-Key"); a retry after that
    executes again, so older rows only take space. Run with every close round."""
    forgotten = await answers.purge(clock.now() - KEPT_FOR)
    if forgotten:
        log.info("idempotent answers past %s forgotten: %d", KEPT_FOR, forgotten)


async def forget_delivered_webhooks(outbox: WebhookOutboxRepository, retention: timedelta, clock: Clock) -> None:
    """Webhook events past `retention` whose deliveries are all done go, with their delivery log, a
    batch at a time (a pending delivery keeps its event). Run with every close round."""
    cutoff, forgotten = clock.now() - retention, 0
    while (batch := await outbox.forget_before(cutoff)) > 0:
        forgotten += batch
    if forgotten:
        log.info("webhook events past %s forgotten: %d", retention, forgotten)

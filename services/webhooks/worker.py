"""The webhook delivery worker: deliver what is due, forever; health and metrics on `webhook_web_port`.

It wakes on each new event (Postgres LISTEN on the outbox's channel: the notification is sent when the
change commits) and at least every `webhook_poll_interval_s` (retries fall due without a notification,
and a lost connection loses notifications). Several workers may run at once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial

from meterflow.adapters.webhook_delivery_repository import events_created_at, oldest_due
from meterflow.adapters.webhook_event_repository import NOTIFY_CHANNEL
from meterflow.clock import Clock
from meterflow.domain.webhooks import AttemptOutcome, DeliveryStatus, DueDelivery
from meterflow.observability import (
    WEBHOOK_ATTEMPT_SECONDS,
    WEBHOOK_DELIVERIES,
    WEBHOOK_FIRST_ATTEMPT_DELAY,
    WEBHOOK_QUEUE_AGE,
)
from meterflow.settings import Settings
from services.lifecycle import ClaimLoop, claim_forever, health_served, until_stopped
from services.webhooks.bootstrap import Worker, webhook_worker

log = logging.getLogger(__name__)


def report(outcomes: Sequence[AttemptOutcome]) -> None:
    for o in outcomes:
        outcome = "retrying" if o.status is DeliveryStatus.PENDING else o.status.value
        WEBHOOK_DELIVERIES.labels(outcome).inc()
        WEBHOOK_ATTEMPT_SECONDS.observe(o.attempt.duration_ms / 1000)


async def _first_attempt_delays(worker: Worker, outcomes: Sequence[AttemptOutcome]) -> None:
    """Change → first attempt, for the metric (the events' times are read back in one query)."""
    firsts = [o.delivery_id for o in outcomes if o.attempt.number == 1]
    if not firsts:
        return
    started = {o.delivery_id: o.attempt.started_at for o in outcomes}
    for delivery_id, created_at in (await events_created_at(worker.pool, firsts)).items():
        WEBHOOK_FIRST_ATTEMPT_DELAY.observe(max(0.0, (started[delivery_id] - created_at).total_seconds()))


async def deliver_forever(worker: Worker, settings: Settings) -> None:
    """Each endpoint's run is one item: a slow or silent receiver (up to the timeout per attempt) holds
    back only its own deliveries; when its run ends, its next deliveries may be claimed."""
    await claim_forever(ClaimLoop("webhook delivery", settings.database_dsn, NOTIFY_CHANNEL,
                                  settings.webhook_claim_batch, settings.webhook_poll_interval_s,
                                  worker.delivery.claim_runs, partial(_send, worker),
                                  partial(_measure_queue_age, worker)))


async def _measure_queue_age(worker: Worker) -> None:
    oldest, now = await oldest_due(worker.pool, worker.clock.now()), worker.clock.now()
    WEBHOOK_QUEUE_AGE.set((now - oldest).total_seconds() if oldest else 0.0)


async def _send(worker: Worker, run: Sequence[DueDelivery]) -> None:
    try:
        outcomes = await worker.delivery.send_in_order(run)
        report(outcomes)
        await _first_attempt_delays(worker, outcomes)
    except Exception:  # its leases expire and its deliveries are claimed again
        log.exception("webhook deliveries to %s failed", run[0].endpoint_id)


async def run_forever(settings: Settings, clock: Clock) -> None:
    """Until SIGTERM or SIGINT: the round in flight is cancelled (its claims expire and are sent again)."""
    await until_stopped(lambda: _serve(settings, clock))


async def _serve(settings: Settings, clock: Clock) -> None:
    async with webhook_worker(settings, clock) as worker, health_served(
            {"postgres": lambda: worker.pool.fetchval("SELECT 1")}, settings.api_host, settings.webhook_web_port):
        await deliver_forever(worker, settings)

"""The webhook delivery worker: deliver what is due, forever; health and metrics on `webhook_web_port`.

It wakes on each new event (Postgres LISTEN on the outbox's channel: the notification is sent when the
change commits) and at least every `webhook_poll_interval_s` (retries fall due without a notification,
and a lost connection loses notifications). Several workers may run at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

import asyncpg

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
from services.lifecycle import health_served, until_stopped
from services.webhooks.bootstrap import Worker, webhook_worker

log = logging.getLogger(__name__)
QUEUE_AGE_EVERY_S = 1.0


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


async def _listen(settings: Settings, wake: asyncio.Event) -> asyncpg.Connection:
    connection = await asyncpg.connect(settings.database_dsn)
    await connection.add_listener(NOTIFY_CHANNEL, lambda *_: wake.set())
    return connection


async def deliver_forever(worker: Worker, settings: Settings) -> None:
    """Claim, and send each endpoint's run as a task of its own: a slow or silent receiver (up to the
    timeout per attempt) holds back only its own deliveries, never the next claim. A run that ends wakes
    the loop: that endpoint's next deliveries may be claimed then."""
    wake = asyncio.Event()
    listener: asyncpg.Connection | None = None
    runs: set[asyncio.Task[None]] = set()
    measured_at = 0.0

    def ended(task: asyncio.Task[None]) -> None:
        runs.discard(task)
        wake.set()

    while True:
        try:
            if listener is None or listener.is_closed():
                listener = await _listen(settings, wake)
            wake.clear()
            room = settings.webhook_claim_batch - len(runs)
            for run in await worker.delivery.claim_runs(room) if room > 0 else []:
                task = asyncio.create_task(_send(worker, run))
                runs.add(task)
                task.add_done_callback(ended)
            if time.monotonic() - measured_at > QUEUE_AGE_EVERY_S:
                oldest, now = await oldest_due(worker.pool, worker.clock.now()), worker.clock.now()
                WEBHOOK_QUEUE_AGE.set((now - oldest).total_seconds() if oldest else 0.0)
                measured_at = time.monotonic()
        except Exception:
            log.exception("webhook delivery round failed; retrying")
            listener = None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), settings.webhook_poll_interval_s)


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

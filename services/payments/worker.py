"""The payment worker: charge what the collection queue says is due, forever; health and metrics on
`payments_web_port`. Collection is wired to its adapters in bootstrap.py.

It wakes on each change to the queue (Postgres LISTEN: a finalize, an initiate, a rescheduled retry
notify at commit) and at least every `payment_poll_interval_s` (dunning retries fall due without a
notification). Each claimed invoice is handled as a task of its own, so a slow provider holds back only
that invoice. Several workers may run at once: claims are `SKIP LOCKED` and leased.
"""

from __future__ import annotations

import logging
from functools import partial

from meterflow.adapters.payment_repository import NOTIFY_CHANNEL
from meterflow.application.collection import ChargeOutcome
from meterflow.clock import Clock
from meterflow.domain.payments import Claim
from meterflow.observability import PAYMENT_AMOUNT_COLLECTED, PAYMENT_CHARGES, PAYMENT_QUEUE_AGE
from meterflow.settings import Settings
from services.lifecycle import ClaimLoop, claim_forever, health_served, until_stopped
from services.payments.bootstrap import Worker, payment_worker

log = logging.getLogger(__name__)


async def collect_forever(worker: Worker, settings: Settings) -> None:
    await claim_forever(ClaimLoop("payment", settings.database_dsn, NOTIFY_CHANNEL, settings.payment_claim_batch,
                                  settings.payment_poll_interval_s, worker.collection.claim,
                                  partial(_collect, worker), partial(_measure_queue_age, worker)))


async def _measure_queue_age(worker: Worker) -> None:
    oldest, now = await worker.queue.oldest_due(worker.clock.now()), worker.clock.now()
    PAYMENT_QUEUE_AGE.set((now - oldest).total_seconds() if oldest else 0.0)


async def _collect(worker: Worker, claim: Claim) -> None:
    try:
        outcome, attempt = await worker.collection.collect(claim)
    except Exception:  # its lease expires and the invoice is claimed again: the attempt is verified first
        log.exception("collecting %s failed", claim.invoice_id)
        return
    PAYMENT_CHARGES.labels(outcome).inc()
    if outcome == ChargeOutcome.SUCCEEDED and attempt is not None:
        PAYMENT_AMOUNT_COLLECTED.labels(attempt.currency).inc(float(attempt.amount))  # a gauge's float, not money


async def run_forever(settings: Settings, clock: Clock) -> None:
    """Until SIGTERM or SIGINT: attempts in flight keep their stored reference and are verified next time."""
    await until_stopped(lambda: _serve(settings, clock))


async def _serve(settings: Settings, clock: Clock) -> None:
    async with payment_worker(settings, clock) as worker, health_served(
            {"postgres": lambda: worker.pool.fetchval("SELECT 1")}, settings.api_host, settings.payments_web_port):
        await collect_forever(worker, settings)

"""The closer service: close due periods every `close_interval_s`, forever, with replays, alerts and upkeep in
their own loops; health and metrics on `closer_web_port`. Its use cases are wired in bootstrap.py."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from functools import partial

from meterflow.adapters.failures import is_transient
from meterflow.application.alerts import evaluate_alerts
from meterflow.application.period_close import CloseSummary
from meterflow.clock import Clock
from meterflow.observability import CLOSE_DURATION, CLOSE_SKIPPED, INVOICES_CLOSED, count_alerts_fired
from meterflow.settings import Settings
from services.alert_reports import report_failure, report_round
from services.closer.bootstrap import Closer, period_closer
from services.closer.replays import (
    drop_expired_events,
    forget_delivered_webhooks,
    forget_expired_answers,
    replay_forever,
)
from services.lifecycle import health_served, until_stopped

log = logging.getLogger(__name__)


def report(summary: CloseSummary) -> None:
    """Count what a run did and log each skipped period with its reason (ops also list them with
    `meterflow close-failures`)."""
    INVOICES_CLOSED.inc(summary.invoices_written)
    count_alerts_fired(summary.alerts_fired)
    for failure in summary.skipped:
        CLOSE_SKIPPED.labels(failure.stage.value, failure.reason).inc()
        log.error("skipped period %s → %s of %s at %s: %s: %s", failure.period.start.isoformat(),
                  failure.period.end.isoformat(), failure.subscription_id, failure.stage.value, failure.reason,
                  failure.detail)  # isoformat: a failed period's bounds may not convert to UTC


async def close_once(closer: Closer, clock: Clock) -> None:
    started = time.monotonic()
    summary = await closer.periods.close(as_of=clock.now())
    CLOSE_DURATION.observe(time.monotonic() - started)
    report(summary)
    if summary.periods_closed:
        log.info("closed %d periods, %d invoices written", summary.periods_closed, summary.invoices_written)


async def alerts_after_replay(closer: Closer, clock: Clock) -> None:
    """Every alert evaluated once (usage replayed may cross thresholds); a failure is reported and left to
    the customers' next change, never holding back the next job."""
    try:
        done = await evaluate_alerts(closer.unit_of_work, closer.exact.catalog, closer.exact,
                                     clock, closer.org_id, is_transient, None)
    except Exception:
        report_failure(False, None)
        return
    report_round(done)


async def run_forever(settings: Settings, clock: Clock) -> None:
    """Until SIGTERM or SIGINT: then the current round is cancelled (its transaction rolls back) and
    connections close cleanly."""
    await until_stopped(lambda: _serve(settings, clock))


async def _serve(settings: Settings, clock: Clock) -> None:
    async with period_closer(settings, clock) as closer, health_served(
            {"postgres": lambda: closer.pool.fetchval("SELECT 1"), "redis": closer.usage.ping},
            settings.api_host, settings.closer_web_port):
        replays = asyncio.create_task(replay_forever(closer.replayer, settings.close_interval_s,
                                                     partial(alerts_after_replay, closer, clock)))
        try:
            while True:
                try:
                    await close_once(closer, clock)
                    await drop_expired_events(closer.record, closer.edges,
                                              timedelta(seconds=settings.event_record_retention_s), clock)
                    await forget_expired_answers(closer.answers, clock)
                    await forget_delivered_webhooks(closer.outbox, timedelta(seconds=settings.webhook_retention_s),
                                                    clock)
                except Exception:
                    log.exception("period close failed; retrying next round")
                await asyncio.sleep(settings.close_interval_s)
        finally:
            replays.cancel()

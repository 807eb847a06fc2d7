"""The Faust shell around the counting use case: consume both events topics in batches, commit when settled.

The agent pulls a whole fetch at a time from the consumer (`transport.BatchConsumer.take`, below Faust's
per-record stream) and marks it settled only after `FailurePolicy.settle` made every record's fate
durable: counted, or dead-lettered. Offsets are committed from settled batches only, so strictly after
their effect. `settle` retries while a dependency is away and isolates records at fault, so it never
skips a record and never blocks on one (application/failure_policy.py). Why: docs/processor-design.md.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import faust
from faust.types import TP
from mode.types import BaseSignalT

from meterflow.adapters.failures import is_transient
from meterflow.application.count_usage import BatchReport
from meterflow.application.progress import Progress
from meterflow.clock import Clock, SystemClock
from meterflow.domain.records import Record
from meterflow.heap import PROCESSOR_YOUNG_THRESHOLD, tune_for_serving
from meterflow.logs import configure_logging
from meterflow.observability import (
    CONSUMER_LAG,
    DEAD_LETTERS,
    DUPLICATES_DROPPED,
    EVENTS_COUNTED,
    LATE_EVENTS,
    PROCESSING_LATENCY,
    PROCESSOR_OLDEST_UNPROCESSED_AGE,
    PROCESSOR_STALLED,
    UNBILLABLE_EVENTS,
    metrics_payload,
    readiness,
)
from meterflow.settings import Settings
from services.processor.alerting import AlertTrigger, evaluate_forever
from services.processor.bootstrap import Counting, build_counting
from services.processor.pipeline import CountSignal, count_batches
from services.processor.transport import ProcessorApp
from services.processor.watchdog import CHECK_INTERVAL_S, Watchdog, check

log = logging.getLogger(__name__)
# How often the processor drops the hot dedupe marks no replay can ask for (they are kept an hour past
# their slice at least: a few minutes more cost ~3% of the hot tier).
HOT_MARK_SWEEP_INTERVAL_S = 120.0


def observe(report: BatchReport, records: list[Record], done_at: datetime) -> None:
    """Metrics of a batch whose effect is durable: one increment per label, not per event (events are
    tallied by their mode itself: an enum's `.value` is a Python-level property, read once per mode)."""
    counted = Counter(event.mode for event in report.outcome.counted)
    unbillable = Counter(c.metric_id for event in report.outcome.counted for c in event.contributions
                         if c.observation.unbillable)
    for mode, n in counted.items():
        EVENTS_COUNTED.labels(mode.value).inc(n)
    for metric_id, n in unbillable.items():
        UNBILLABLE_EVENTS.labels(metric_id).inc(n)
    DUPLICATES_DROPPED.labels("processor").inc(len(report.outcome.duplicates))
    for category, n in Counter(letter.category.value for letter in report.dead_letters).items():
        DEAD_LETTERS.labels(category).inc(n)
    for mode, n in Counter(late.mode for late in report.late).items():
        LATE_EVENTS.labels(mode.value).inc(n)
    done_ms = done_at.timestamp() * 1000
    for record in records:
        PROCESSING_LATENCY.observe(max(0.0, (done_ms - record.timestamp_ms) / 1000))


def observe_lag(app: faust.App, records: list[Record]) -> None:
    last: dict[tuple[str, int], int] = {}
    for record in records:
        last[(record.topic, record.partition)] = max(record.offset, last.get((record.topic, record.partition), -1))
    for (topic, partition), offset in last.items():
        highwater = app.consumer.highwater(TP(topic, partition))
        if highwater is not None:
            CONSUMER_LAG.labels(topic, str(partition)).set(max(0, highwater - offset - 1))


def _faust_app(settings: Settings) -> ProcessorApp:
    return ProcessorApp(
        settings.processor_id,
        fetch_max_wait_ms=settings.processor_fetch_max_wait_ms,
        broker=f"kafka://{settings.kafka_servers}",
        store="memory://",
        topic_partitions=settings.topic_partitions,
        broker_session_timeout=settings.kafka_session_timeout_s,
        broker_heartbeat_interval=settings.kafka_heartbeat_interval_s,
        broker_commit_interval=settings.processor_commit_interval_s,
        consumer_auto_offset_reset="earliest",
        # One fetch is one batch (transport.py): its size bounds the batch.
        broker_max_poll_records=settings.processor_batch_max,
        producer_acks=-1,
        web_bind=settings.processor_web_host,
        web_host=settings.processor_web_host,
        web_port=settings.processor_web_port,
        datadir=str(settings.data_dir / "faust"),
    )


def _watched(settings: Settings, clock: Clock) -> Progress:
    """The processor's progress, exported as metrics read at each scrape."""
    progress = Progress(clock, timedelta(seconds=settings.processor_stall_after_s))
    PROCESSOR_OLDEST_UNPROCESSED_AGE.set_function(progress.oldest_unprocessed_age_s)
    PROCESSOR_STALLED.set_function(lambda: float(progress.stalled))
    return progress


def create_app(settings: Settings, clock: Clock | None = None) -> faust.App:
    clock = clock or SystemClock()
    progress = _watched(settings, clock)
    app = _faust_app(settings)
    events_topic = app.topic(settings.events_topic_test, settings.events_topic_live,
                             key_serializer="raw", value_serializer="raw")
    runtime: dict[str, Counting] = {}
    trigger = AlertTrigger()

    def sweep_alerts(sender: Any, /, *args: Any, signal: BaseSignalT[Any], **kwargs: Any) -> None:
        """Partitions just assigned may hold records that a processor now gone counted, and committed,
        without evaluating their alerts (its round died with it): every alert is evaluated once."""
        if args and args[0]:  # the partitions assigned
            trigger.changed(None)

    app.on_partitions_assigned.connect(sweep_alerts)

    # The agent subscribes the topics (so Faust's group membership and rebalancing cover them) and runs
    # the loop for the agent's lifetime; records reach it a fetch at a time, not through `stream`.
    @app.agent(events_topic)
    async def count_usage(stream: faust.StreamT[Any]) -> None:
        signal = CountSignal()
        counting = runtime["counting"] = await build_counting(settings, clock, progress, signal.counted)

        def after(report: BatchReport, records: list[Record]) -> None:
            observe(report, records, clock.now())
            observe_lag(app, records)
            trigger.changed((event.mode, event.customer_id) for event in report.outcome.counted
                            if event.contributions)

        alerts = asyncio.create_task(evaluate_forever(trigger, counting.evaluate_alerts, is_transient,
                                                      settings.alert_retry_s))
        try:
            await count_batches(app.batch_consumer, counting.policy.settle, signal,
                                settings.processor_batch_within_s, after, counting.prepare)
        finally:
            alerts.cancel()

    watchdog = Watchdog(clock, timedelta(seconds=settings.processor_rejoin_timeout_s))

    async def watch() -> None:
        await check(settings, watchdog, len(app.consumer.assignment()))

    app.timer(interval=CHECK_INTERVAL_S)(watch)

    async def sweep_hot_marks() -> None:
        """Every processor sweeps (the sweep is idempotent, and one of them down must not stop it)."""
        counting = runtime.get("counting")
        if counting is None:
            return
        try:
            await counting.sweep_hot_marks()
        except Exception as exc:  # housekeeping: a sweep that fails must never stop counting
            if is_transient(exc):
                log.warning("hot dedupe marks not swept (%s): next round", type(exc).__name__)
            else:
                log.exception("hot dedupe marks not swept: next round")

    app.timer(interval=HOT_MARK_SWEEP_INTERVAL_S)(sweep_hot_marks)

    _add_pages(app, progress, runtime)
    return app


def _add_pages(app: faust.App, progress: Progress, runtime: dict[str, Counting]) -> None:
    @app.page("/healthz")
    async def healthz(web: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        """Ready when every dependency answers and the processor advances (no record stuck too long)."""
        counting = runtime.get("counting")
        if counting is None or not app.consumer.assignment():
            return web.json({"status": "starting: joining the consumer group"}, status=503)
        reachable, checks = await readiness(counting.probes)
        ready = reachable and not progress.stalled
        status = "ready" if ready else ("stalled" if reachable else "unavailable")
        return web.json({"status": status, "checks": checks, "progress": progress.status()},
                        status=200 if ready else 503)

    @app.page("/metrics")
    async def metrics(web: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        body, content_type = metrics_payload()
        return web.bytes(body, headers={"Content-Type": content_type})


def run_worker(settings: Settings) -> None:
    configure_logging(settings.log_level, "processor")
    app = create_app(settings)
    tune_for_serving(PROCESSOR_YOUNG_THRESHOLD)
    faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True,
                 override_logging=False).execute_from_commandline()

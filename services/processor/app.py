"""The Faust shell around the counting use case: consume both events topics in batches, ack when settled.

Faust acks the events of a `take_events` batch only after the loop body returns, so offsets are
committed strictly after `FailurePolicy.settle` made every record's fate durable: counted, or
dead-lettered. `settle` retries while a dependency is away and isolates records at fault, so it never
skips a record and never blocks on one (application/failure_policy.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import faust
from faust.types import TP

from meterflow.application.count_usage import BatchReport
from meterflow.application.progress import Progress
from meterflow.clock import Clock, SystemClock
from meterflow.domain.records import Record
from meterflow.logs import REQUEST_ID_HEADER, configure_logging
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
from services.processor.bootstrap import Counting, build_counting
from services.processor.transport import ProcessorApp
from services.processor.watchdog import CHECK_INTERVAL_S, Watchdog, check


def _record(event: Any) -> Record:
    message = event.message
    headers = message.headers.items() if isinstance(message.headers, dict) else (message.headers or ())
    request_id = dict(headers).get(REQUEST_ID_HEADER)
    return Record(message.topic, message.partition, message.offset, int(message.timestamp * 1000),
                  message.key, message.value,
                  bytes(request_id).decode(errors="replace") if request_id else None)


def observe(report: BatchReport, records: list[Record], done_at: datetime) -> None:
    """Metrics of a batch whose effect is durable."""
    for event in report.outcome.counted:
        EVENTS_COUNTED.labels(event.mode.value).inc()
        for contribution in event.contributions:
            if contribution.observation.unbillable:
                UNBILLABLE_EVENTS.labels(contribution.metric_id).inc()
    DUPLICATES_DROPPED.labels("processor").inc(len(report.outcome.duplicates))
    for letter in report.dead_letters:
        DEAD_LETTERS.labels(letter.category.value).inc()
    for late in report.late:
        LATE_EVENTS.labels(late.mode.value).inc()
    for record in records:
        PROCESSING_LATENCY.observe(max(0.0, (done_at - record.received_at).total_seconds()))


def observe_lag(app: faust.App, records: list[Record]) -> None:
    last: dict[tuple[str, int], int] = {}
    for record in records:
        last[(record.topic, record.partition)] = max(record.offset, last.get((record.topic, record.partition), -1))
    for (topic, partition), offset in last.items():
        highwater = app.consumer.highwater(TP(topic, partition))
        if highwater is not None:
            CONSUMER_LAG.labels(topic, str(partition)).set(max(0, highwater - offset - 1))


def _faust_app(settings: Settings) -> faust.App:
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
        # Larger fetches and buffers: Faust's per-message machinery, not Kafka, bounds throughput.
        broker_max_poll_records=settings.processor_batch_max,
        stream_buffer_maxsize=settings.processor_batch_max * 4,
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

    @app.agent(events_topic)
    async def count_usage(stream: faust.StreamT[Any]) -> None:
        counting = runtime["counting"] = await build_counting(settings, clock, progress)
        # take_events is missing from Faust's StreamT type, not from its Stream.
        batches = stream.take_events(settings.processor_batch_max,  # type: ignore[attr-defined]
                                     within=settings.processor_batch_within_s)
        async for batch in batches:
            records = [_record(e) for e in batch]
            report = await counting.policy.settle(records)
            observe(report, records, clock.now())
            observe_lag(app, records)

    watchdog = Watchdog(clock, timedelta(seconds=settings.processor_rejoin_timeout_s))

    async def watch() -> None:
        await check(settings, watchdog, len(app.consumer.assignment()))

    app.timer(interval=CHECK_INTERVAL_S)(watch)

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
    faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True,
                 override_logging=False).execute_from_commandline()

"""The Faust shell around the pipeline: consume both events topics in batches, retry until durable.

Faust acks the events of a `take_events` batch only after the loop body returns, so offsets are
committed strictly after `BatchProcessor.process` made the batch's effect durable. A failing batch is
retried (never skipped): counting it again is harmless, skipping it would lose money.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import faust
from faust.types import TP

from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.kafka import ensure_topics, start_producer
from meterflow.adapters.late_event_repository import LateEventRepository
from meterflow.adapters.postgres import create_pool
from meterflow.adapters.redis_client import connect_redis
from meterflow.adapters.usage_store import UsageStore
from meterflow.logs import configure_logging
from meterflow.observability import (
    CONSUMER_LAG,
    DEAD_LETTERS,
    DUPLICATES_DROPPED,
    EVENTS_COUNTED,
    LATE_EVENTS,
    PROCESSING_LATENCY,
    UNBILLABLE_EVENTS,
    metrics_payload,
    readiness,
)
from meterflow.settings import Settings
from services.processor.pipeline import BatchProcessor, BatchReport, Record
from services.processor.transport import ProcessorApp

log = logging.getLogger(__name__)
RETRY_BACKOFF_MAX_S = 5.0


async def build_processor(settings: Settings) -> BatchProcessor:
    pool = await create_pool(settings.database_dsn, max_size=4)
    redis = connect_redis(settings.redis_dsn)
    return BatchProcessor(settings, CatalogRepository(pool), LateEventRepository(pool),
                          UsageStore.from_settings(redis, settings), await start_producer(settings),
                          settings.acceptance_policy)


def _record(event: Any) -> Record:
    message = event.message
    headers = message.headers.items() if isinstance(message.headers, dict) else (message.headers or ())
    return Record(message.topic, message.partition, message.offset, int(message.timestamp * 1000),
                  message.key, message.value, tuple((str(k), bytes(v or b"")) for k, v in headers))


def observe(report: BatchReport, records: list[Record], done_at: datetime) -> None:
    """Metrics of a batch whose effect is durable."""
    for event in report.outcome.counted:
        EVENTS_COUNTED.labels(event.mode.value).inc()
        for contribution in event.contributions:
            if contribution.observation.unbillable:
                UNBILLABLE_EVENTS.labels(contribution.metric_id).inc()
    DUPLICATES_DROPPED.labels("processor").inc(len(report.outcome.duplicates))
    for letter in report.dead_letters:
        DEAD_LETTERS.labels(letter.category).inc()
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


async def process_until_durable(processor: BatchProcessor, records: list[Record]) -> None:
    delay = 0.1
    while True:
        try:
            report = await processor.process(records, datetime.now(UTC))
            observe(report, records, datetime.now(UTC))
            return
        except Exception:
            log.exception("batch of %d records failed; retrying in %.1fs", len(records), delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_BACKOFF_MAX_S)


def create_app(settings: Settings) -> faust.App:
    app: faust.App = ProcessorApp(
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
    events_topic = app.topic(settings.events_topic_test, settings.events_topic_live,
                             key_serializer="raw", value_serializer="raw")

    runtime: dict[str, BatchProcessor] = {}

    @app.agent(events_topic)
    async def count_usage(stream: faust.StreamT[Any]) -> None:
        await ensure_topics(settings)
        processor = runtime["processor"] = await build_processor(settings)
        # take_events is missing from Faust's StreamT type, not from its Stream.
        batches = stream.take_events(settings.processor_batch_max,  # type: ignore[attr-defined]
                                     within=settings.processor_batch_within_s)
        async for batch in batches:
            records = [_record(e) for e in batch]
            await process_until_durable(processor, records)
            observe_lag(app, records)

    @app.page("/healthz")
    async def healthz(web: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        processor = runtime.get("processor")
        if processor is None or not app.consumer.assignment():
            return web.json({"status": "starting: joining the consumer group"}, status=503)
        ready, checks = await readiness(processor.dependency_probes())
        return web.json({"status": "ready" if ready else "unavailable", "checks": checks},
                        status=200 if ready else 503)

    @app.page("/metrics")
    async def metrics(web: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        body, content_type = metrics_payload()
        return web.bytes(body, headers={"Content-Type": content_type})

    return app


def run_worker(settings: Settings) -> None:
    configure_logging(settings.log_level, "processor")
    app = create_app(settings)
    faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True,
                 override_logging=False).execute_from_commandline()

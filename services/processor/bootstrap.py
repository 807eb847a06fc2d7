"""The processor's wiring, in one place: clients built once at start, handed to the use case as ports."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from meterflow.adapters.accounting_store import AccountingStore
from meterflow.adapters.acknowledged_keys import AcknowledgedKeys, DeadLetteredKeys
from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.dead_letter_sink import KafkaDeadLetterSink
from meterflow.adapters.event_record_repository import EventRecordRepository
from meterflow.adapters.failures import categorised, is_transient
from meterflow.adapters.kafka import GroupOffsets, ensure_topics, start_producer
from meterflow.adapters.late_event_repository import LateEventRepository
from meterflow.adapters.postgres import create_pool
from meterflow.adapters.redis_client import connect_redis
from meterflow.adapters.unit_of_work import PostgresUnitOfWork
from meterflow.application.accounting import AccountedDeadLetters
from meterflow.application.alerts import evaluate_alerts
from meterflow.application.count_usage import CountUsage
from meterflow.application.failure_policy import FailurePolicy
from meterflow.application.progress import Progress
from meterflow.clock import Clock
from meterflow.domain.modes import Mode
from meterflow.domain.records import Record
from meterflow.observability import Probe
from meterflow.settings import Settings
from services.exact_usage import waiting_usage
from services.processor.alerting import Evaluate
from services.processor.pipeline import Prepare
from services.wiring import kafka_setup, usage_store


@dataclass(frozen=True)
class Counting:
    """What the Faust shell drives: the failure policy around the use case, its health, and the alert
    evaluation that follows settled batches (alerting.py)."""

    policy: FailurePolicy
    prepare: Prepare  # the next batch's decoding and catalog reads, while the previous one counts
    probes: dict[str, Probe]
    evaluate_alerts: Evaluate
    # Drops the hot dedupe marks no replay can ask for any more (`UsageStore.sweep_hot_marks`): how many.
    sweep_hot_marks: Callable[[], Awaitable[int]]


async def build_counting(settings: Settings, clock: Clock, progress: Progress,
                         counted: Callable[[Sequence[Record]], None]) -> Counting:
    kafka = kafka_setup(settings)
    await ensure_topics(kafka)
    # Two batches overlap (pipeline.py), each holding the record fence and another connection at most;
    # an alert round holds one more, and its edge folds two.
    pool = await create_pool(settings.database_dsn, max_size=9)
    catalog = CatalogRepository(pool)
    redis = connect_redis(settings.redis_dsn)
    usage = usage_store(redis, settings)
    topic_modes = {settings.events_topic(mode): mode for mode in Mode}
    letters = KafkaDeadLetterSink(await start_producer(kafka), settings.dlq_topic)
    # Each letter is tallied for docs/accounting.md once the topic acknowledged it, on both paths that send.
    accounting = AccountingStore(redis, timedelta(seconds=settings.accounting_retention_s))
    # A dead-lettered key is answered `duplicates` by ingest for W + skew, as a counted one is.
    keys = AcknowledgedKeys(redis, settings.dedupe_window_s + settings.clock_skew_s,
                            timedelta(seconds=settings.clock_skew_s), settings.dedupe_mark_bucket_bits)
    dead_letters = AccountedDeadLetters(letters, accounting, topic_modes, DeadLetteredKeys(keys, clock))
    count_usage = CountUsage(catalog, usage, LateEventRepository(pool), dead_letters, clock, topic_modes,
                             settings.acceptance_policy, EventRecordRepository(pool), counted)
    alerts = partial(evaluate_alerts, partial(PostgresUnitOfWork, pool), catalog,
                     waiting_usage(pool, usage, catalog, settings, clock), clock, settings.org_id, is_transient)
    offsets = GroupOffsets(kafka)

    async def sweep_hot_marks() -> int:
        return await usage.sweep_hot_marks(offsets.committed, clock.now())
    return Counting(FailurePolicy(count_usage, dead_letters, progress, categorised), count_usage.prepare,
                    {"postgres": catalog.ping, "redis": usage.ping, "kafka": letters.ping}, alerts, sweep_hot_marks)

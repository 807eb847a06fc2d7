"""A broker that lost the events topics (an embedded broker restarted, a cluster rebuilt): whatever the
consumer makes of it, the events written afterwards are counted exactly; a processor that cannot
consume exits to rejoin (the watchdog) instead of looping, and a restart then counts them."""

from __future__ import annotations

import asyncio

from aiokafka.admin import AIOKafkaAdminClient

from meterflow.adapters.kafka import ensure_topics
from meterflow.adapters.postgres import Pool
from meterflow.adapters.usage_store import UsageStore
from meterflow.domain.modes import Mode
from meterflow.settings import Settings
from services.processor.watchdog import EXIT_STATUS
from services.wiring import kafka_setup
from tests.faults.conftest import open_books, produce, wait_for_exact, workload
from tests.support import ServiceProcess, eventually


async def test_events_after_the_topics_vanished_are_counted_exactly(isolated: Settings, pool: Pool,
                                                                    usage_store: UsageStore) -> None:
    books = await open_books(pool)
    before, _ = workload(books, originals=500)
    processor = ServiceProcess("processor", isolated)
    processor.start(processor_rejoin_timeout_s=3)
    try:
        await produce(isolated, Mode.TEST, before)
        await delete_events_topics(isolated)
        await ensure_topics(kafka_setup(isolated))  # what the supervisor does after an embedded broker restart
        books = await open_books(pool)
        after, expected = workload(books, originals=2_000)
        await produce(isolated, Mode.TEST, after)
        assert processor.process is not None
        try:
            await wait_for_exact(usage_store, books, expected, isolated, timeout_s=30)
        except AssertionError:
            # Not consuming: the watchdog must have made it exit to rejoin, never left it looping.
            process = processor.process
            assert process is not None
            status = await eventually(lambda: asyncio.sleep(0, process.poll()),
                                      lambda code: code is not None, timeout_s=30, interval_s=0.5)
            assert status == EXIT_STATUS, processor.log()[-3000:]
            processor.start()
            await wait_for_exact(usage_store, books, expected, isolated, timeout_s=60)
    finally:
        processor.stop()


async def delete_events_topics(settings: Settings) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_servers)
    await admin.start()
    try:
        await admin.delete_topics([settings.events_topic_test, settings.events_topic_live])
    finally:
        await admin.close()

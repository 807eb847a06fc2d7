"""The spool against the real broker: forwarded in order with stable delivery ids, kept until the
processor group's committed offsets pass it, produced again when the broker lost it, and its count of
acknowledged events kept through segment deletion and restarts."""

from __future__ import annotations

import gc
import tracemalloc
from collections import defaultdict
from pathlib import Path

import pytest

from meterflow.adapters.kafka import ensure_topics
from meterflow.adapters.kafka_publisher import outgoing, produce
from meterflow.adapters.spool.spool import Spool
from meterflow.domain.modes import Mode
from meterflow.settings import Settings
from services.wiring import kafka_setup
from tests.faults.test_processor_rejoin import delete_events_topics
from tests.integration.spool_kit import (
    commit_as_processor,
    events,
    own_topics,
    producer_for,
    read_topic,
    spool_on,
)
from tests.support import eventually

pytestmark = pytest.mark.kafka


async def test_forwarded_in_order_per_key_with_a_delivery_id_each(settings: Settings, tmp_path: Path) -> None:
    mine = await own_topics(settings)
    sent = events("order", 300)
    async with producer_for(mine) as producer, spool_on(mine, tmp_path, producer) as spool:
        for start in range(0, 300, 50):
            await spool.publish(Mode.TEST, sent[start:start + 50], sent[0].timestamp)
        read = await read_topic(mine)
    assert sorted(r.idempotency_key for r in read) == sorted(e.idempotency_key for e in sent)
    by_key: dict[bytes, list[str]] = defaultdict(list)
    for r in read:
        by_key[r.key].append(r.idempotency_key)
    for key, keys in by_key.items():
        assert keys == [e.idempotency_key for e in sent if e.customer_id.encode() == key]
    assert sorted(int(r.delivery_id.split(".")[1]) for r in read if r.delivery_id) == list(range(1, 301))
    assert len({r.delivery_id.split(".")[0] for r in read if r.delivery_id}) == 1


async def test_kept_until_committed_then_freed_and_the_acknowledged_count_survives(settings: Settings,
                                                                                   tmp_path: Path) -> None:
    mine = await own_topics(settings)
    sent = events("settle", 400)
    async with producer_for(mine) as producer:
        async with spool_on(mine, tmp_path, producer, segment_bytes=4_096) as spool:
            for start in range(0, 400, 40):
                await spool.publish(Mode.TEST, sent[start:start + 40], sent[0].timestamp)
            assert spool.figures().events == 400 and len(list(tmp_path.rglob("*.seg"))) > 1
            acknowledged = spool.acknowledged_by_hour()
            assert sum(acknowledged.values()) == 400
            read = await read_topic(mine)
            ends: dict[tuple[str, int], int] = {}
            for r in read:
                ends[(mine.events_topic_test, r.partition)] = r.offset + 1
            await commit_as_processor(mine, ends)
            await eventually(lambda: _figures(spool), lambda f: f == (0, 0), timeout_s=30)
            assert list(tmp_path.rglob("*.seg")) == []
            assert spool.acknowledged_by_hour() == acknowledged
        async with spool_on(mine, tmp_path, producer) as reopened:
            assert reopened.acknowledged_by_hour() == acknowledged
            assert reopened.figures().events == 0
        assert len(await read_topic(mine)) == 400  # nothing settled is forwarded again


async def test_what_a_broker_lost_before_it_was_counted_is_produced_again_with_the_same_ids(
        settings: Settings, tmp_path: Path) -> None:
    mine = await own_topics(settings)
    sent = events("lost", 200)
    async with producer_for(mine) as producer, spool_on(mine, tmp_path, producer) as spool:
        await spool.publish(Mode.TEST, sent, sent[0].timestamp)
        before = {r.idempotency_key: r.delivery_id for r in await read_topic(mine)}
        assert len(before) == 200
        await delete_events_topics(mine)
        await ensure_topics(kafka_setup(mine))
        again = await eventually(lambda: read_topic(mine), lambda read: len(read) >= 200, timeout_s=60,
                                 interval_s=1)
        assert {r.idempotency_key: r.delivery_id for r in again} == before
        assert spool.figures().events == 200



async def _figures(spool: Spool) -> tuple[int, int]:
    figures = spool.figures()
    return figures.events, figures.bytes


async def test_each_record_is_told_where_it_landed_when_a_partition_takes_several_batches(settings: Settings) -> None:
    """`produce` fills a batch per partition and starts another when one is full (1 MiB): the position it
    answers for every record, which the spool settles by, is where the record really is."""
    mine = await own_topics(settings)
    sent = events("positions", 3_000, customers=3)
    padded = [e.model_copy(update={"properties": {"n": i, "pad": "x" * 2_000}}) for i, e in enumerate(sent)]
    records = outgoing(padded, sent[0].timestamp, [])
    async with producer_for(mine) as producer:
        positions = await produce(producer, mine.events_topic_test, records)
    read = {(r.partition, r.offset): r.idempotency_key for r in await read_topic(mine)}
    assert len(read) == 3_000
    assert [read[position] for position in positions] == [e.idempotency_key for e in sent]
    partitions_of = {(e.customer_id, partition) for e, (partition, _) in zip(sent, positions, strict=True)}
    assert len(partitions_of) == 3  # one partition per customer: the key decides


async def test_an_event_waiting_to_be_counted_holds_little_more_than_its_bytes_in_memory(settings: Settings,
                                                                                      tmp_path: Path) -> None:
    """Every event stays in the spool's memory until the processor has counted it: ~260 B of JSON must not
    hold the 4 KB write buffer the encoder wrote it in (15 times the memory, and the page faults to match)."""
    mine = await own_topics(settings)
    sent = events("memory", 2_000)
    async with producer_for(mine) as producer, spool_on(mine, tmp_path, producer) as spool:
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            await spool.publish(Mode.TEST, sent, sent[0].timestamp)
            gc.collect()
            held = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert spool.figures().events == 2_000  # still held: nothing is counted
    assert held / 2_000 < 1_000

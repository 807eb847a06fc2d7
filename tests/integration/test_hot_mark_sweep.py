"""The processor's sweep of hot dedupe marks against the real broker and Redis: `GroupOffsets` reads the
processor group's committed offsets as the processor does, and a hot slice stays until the group has
committed past every record it marks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from redis.asyncio import Redis

from meterflow.adapters.kafka import GroupOffsets
from meterflow.domain.modes import Mode
from meterflow.settings import Settings
from services.wiring import kafka_setup
from tests.integration.spool_kit import commit_as_processor, own_topics, producer_for
from tests.integration.test_usage_store import HOUR, NOW, at, events, hot_slice_listed, store
from tests.support import unique

pytestmark = [pytest.mark.redis, pytest.mark.kafka]


async def test_a_hot_slice_goes_once_the_processor_group_committed_past_its_records(settings: Settings,
                                                                                    redis: Redis) -> None:
    mine = await own_topics(settings)
    topic = mine.events_topic(Mode.TEST)
    async with producer_for(mine) as producer:
        offsets = [(await producer.send_and_wait(topic, b"{}", partition=0)).offset for _ in range(3)]
    s, then = store(redis), NOW - 9 * HOUR
    await s.apply([at(event, topic, 0, offset) for event, offset in
                   zip(events(unique("met"), unique("cus"), 3), offsets, strict=True)], then)
    group = GroupOffsets(kafka_setup(mine))
    try:
        assert await group.committed([(topic, 0), (topic, 1)]) == {(topic, 0): 0, (topic, 1): 0}
        await s.sweep_hot_marks(group.committed, NOW)
        assert await hot_slice_listed(redis, then)
        await commit_as_processor(mine, {(topic, 0): offsets[1] + 1})  # the last record still uncommitted
        await s.sweep_hot_marks(group.committed, NOW)
        assert await hot_slice_listed(redis, then)
        await commit_as_processor(mine, {(topic, 0): offsets[2] + 1})
        assert await group.committed([(topic, 0)]) == {(topic, 0): offsets[2] + 1}
        await s.sweep_hot_marks(group.committed, NOW + timedelta(seconds=1))
        assert not await hot_slice_listed(redis, then)
    finally:
        await group.close()

"""Fault tests run their own processes on their own topics and consumer group, so killing them never
disturbs the session's services, and every figure they check is theirs alone. Their checks live in
tests/faults/support.py, the workload in the kit shared with the bench (testkit)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from meterflow.adapters.usage_store import UsageStore
from meterflow.settings import Settings
from testkit import environment, figures


@pytest.fixture
async def isolated(settings: Settings) -> Settings:
    """The session's servers, with topics, group and ports of this test only."""
    return await environment.isolated(settings, "fault", topic_partitions=4)


@pytest.fixture
async def usage_store(redis: Redis) -> AsyncIterator[UsageStore]:
    yield figures.usage_store(redis)

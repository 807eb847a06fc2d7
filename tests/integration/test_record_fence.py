"""The fence between counting and rebuilding rollups from the events on record, on the real Postgres:
batches count side by side, a rebuild waits for every batch between its count and its record insert,
and a batch waits for a rebuild."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import pytest

from meterflow.adapters.event_record_repository import EventRecordRepository
from meterflow.adapters.postgres import Pool

pytestmark = pytest.mark.postgres
DEADLINE_S = 10


async def test_batches_count_together_and_a_rebuild_waits_for_them(pool: Pool) -> None:
    record = EventRecordRepository(pool)
    async with record.counting(), record.counting():  # two batches at once: a shared lock
        rebuild = asyncio.create_task(_hold(record.rebuilding))
        await asyncio.sleep(0.3)
        assert not rebuild.done()  # a batch is between its count and its insert
    await asyncio.wait_for(rebuild, DEADLINE_S)


async def test_a_batch_waits_for_a_rebuild(pool: Pool) -> None:
    record = EventRecordRepository(pool)
    async with record.rebuilding():
        batch = asyncio.create_task(_hold(record.counting))
        await asyncio.sleep(0.3)
        assert not batch.done()
    await asyncio.wait_for(batch, DEADLINE_S)


async def _hold(fence: Callable[[], AbstractAsyncContextManager[None]]) -> None:
    async with fence():
        pass

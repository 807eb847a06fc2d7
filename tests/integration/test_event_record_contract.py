"""One contract for the events-on-record writer port, run against the in-memory fake the unit tests use
(tests/fakes/processing.py) and the real Postgres adapter: what the unit tests learn from the fake about
writing the record (idempotent, first body kept, modes apart, the counting fence shared) holds for
Postgres."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Protocol

import pytest

from meterflow.adapters.event_record_repository import EventRecordRepository
from meterflow.adapters.postgres import Pool
from meterflow.application.ports.usage import EventRecordWriter
from meterflow.domain.event_record import EventOnRecord, Position
from meterflow.domain.modes import Mode
from tests.fakes.processing import MemoryEventRecord
from tests.support import unique

pytestmark = pytest.mark.postgres
AT = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


class RecordUnderTest(EventRecordWriter, Protocol):
    async def by_key(self, mode: Mode, idempotency_key: str) -> EventOnRecord | None: ...


@pytest.fixture(params=["memory", "postgres"])
async def record(request: pytest.FixtureRequest, pool: Pool) -> AsyncIterator[RecordUnderTest]:
    yield MemoryEventRecord() if request.param == "memory" else EventRecordRepository(pool)


def on_record(key: str, *, mode: Mode = Mode.TEST, units: str = "1", offset: int = 0) -> EventOnRecord:
    return EventOnRecord(mode, key, "cus_contract", "calls", AT, {"units": units}, AT + timedelta(seconds=1),
                         Position("t.events.test", 0, offset))


async def test_adding_a_batch_again_adds_nothing_and_the_first_body_of_a_key_stays(record: RecordUnderTest) -> None:
    first, second = unique("k"), unique("k")
    await record.add([on_record(first, units="2"), on_record(second, offset=1)])
    await record.add([on_record(first, units="999", offset=7), on_record(second, offset=1)])
    kept = await record.by_key(Mode.TEST, first)
    assert kept is not None and (kept.properties, kept.position.offset) == ({"units": "2"}, 0)
    assert (await record.by_key(Mode.TEST, second)) == on_record(second, offset=1)


async def test_modes_never_meet_and_an_empty_batch_adds_nothing(record: RecordUnderTest) -> None:
    key = unique("k")
    await record.add([])
    await record.add([on_record(key, mode=Mode.LIVE)])
    assert await record.by_key(Mode.TEST, key) is None
    live = await record.by_key(Mode.LIVE, key)
    assert live is not None and live.mode is Mode.LIVE


async def test_many_batches_hold_the_counting_fence_at_once(record: RecordUnderTest) -> None:
    async def hold_together() -> None:
        async with AsyncExitStack() as stack:
            for _ in range(3):
                await stack.enter_async_context(record.counting())
            await record.add([on_record(unique("k"))])

    await asyncio.wait_for(hold_together(), timeout=10)

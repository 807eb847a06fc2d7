"""A processor that cannot advance says so: with Redis down, its oldest unprocessed record ages past the
threshold, /readyz answers 503 and the stall metric is 1; once Redis is back, every event is counted
exactly once and it is ready again. Nothing is dead-lettered for an outage."""

from __future__ import annotations

from meterflow.adapters.postgres import Pool
from meterflow.adapters.usage_store import UsageStore
from meterflow.settings import Settings
from testkit.kafka import produce_events
from testkit.workload import open_books, workload
from tests.faults.dead_letters import all_dead_letters
from tests.faults.readiness import readiness
from tests.faults.support import assert_on_record, wait_for_exact
from tests.support import ServiceProcess, TestEnvironment, eventually


async def test_a_processor_that_cannot_advance_is_not_ready_until_it_catches_up(
        environment: TestEnvironment, isolated: Settings, pool: Pool, usage_store: UsageStore) -> None:
    assert environment.stack is not None, "stopping Redis needs the embedded stack"
    redis_server = environment.stack.by_name("redis")
    settings = isolated.model_copy(update={"processor_stall_after_s": 2.0})
    books = await open_books(pool)
    events, expected = workload(books, originals=2_000)
    with ServiceProcess.running("processor", settings):
        await eventually(lambda: readiness(settings), lambda answer: answer.advancing, 60)
        redis_server.kill()
        try:
            await produce_events(settings, books.mode, events)
            await eventually(lambda: readiness(settings), lambda answer: answer.stalled, 60)
        finally:
            redis_server.start()
        await wait_for_exact(usage_store, books, expected, settings)
        await assert_on_record(pool, books, expected)
        assert await all_dead_letters(settings) == []
        await eventually(lambda: readiness(settings), lambda answer: answer.advancing, 30)


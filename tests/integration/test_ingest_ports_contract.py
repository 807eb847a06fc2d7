"""One contract for the ingest use case's ports, run against the in-memory fakes (tests/fakes/ingest.py)
and the real adapters: what tests/unit/test_ingest.py learns from the fakes holds for Redis and Kafka."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from meterflow.adapters.acknowledged_keys import AcknowledgedKeys, DeadLetteredKeys
from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.duplicate_precheck import RedisDuplicatePrecheck
from meterflow.adapters.kafka_publisher import KafkaPublisher
from meterflow.adapters.postgres import create_pool
from meterflow.adapters.redis_client import connect_redis
from meterflow.application.ports.usage import CustomerDirectory, DuplicatePrecheck, EventPublisher
from meterflow.clock import SteppedClock
from meterflow.domain.catalog import Customer
from meterflow.domain.counting import CountableEvent
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.modes import Mode
from meterflow.settings import Settings
from services.wiring import usage_store
from tests.fakes.ingest import Directory, Precheck, Publisher
from tests.integration.spool_kit import events, own_topics, producer_for, read_topic, spool_on
from tests.support import unique

pytestmark = [pytest.mark.redis, pytest.mark.kafka]
NOW = datetime.now(UTC)


@dataclass
class Checked:
    precheck: DuplicatePrecheck
    mark_counted: Callable[[Mode, str], Awaitable[None]]  # what the processor's count leaves
    dead_letter: Callable[[Mode, str], Awaitable[None]]  # what the processor's dead letter leaves


@pytest.fixture(params=["memory", "redis", pytest.param("redis_cluster", marks=pytest.mark.redis_cluster)])
async def checked(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Checked]:
    if request.param == "memory":
        fake = Precheck()

        async def fake_count(mode: Mode, key: str) -> None:
            fake.known.add((mode, key))
        yield Checked(fake, fake_count, fake_count)
        return
    url = request.getfixturevalue("redis_cluster").url if request.param == "redis_cluster" else settings.redis_dsn
    redis = connect_redis(url)
    store = usage_store(redis, settings)

    async def count(mode: Mode, key: str) -> None:
        await store.apply([CountableEvent(mode, key, "cus_1", "tokens", NOW, ())], NOW)
    acknowledged = AcknowledgedKeys(redis, 3_600, timedelta(seconds=300))

    async def dead_letter(mode: Mode, key: str) -> None:
        await DeadLetteredKeys(acknowledged, SteppedClock(NOW)).dead_lettered(mode, [key])
    yield Checked(RedisDuplicatePrecheck(redis, store.counted_layouts, acknowledged), count, dead_letter)
    await redis.aclose()


async def test_keys_remembered_or_counted_are_known_in_their_mode_only(checked: Checked) -> None:
    remembered, counted, fresh = unique("r"), unique("c"), unique("f")
    await checked.precheck.remember(Mode.TEST, [remembered], NOW)
    await checked.mark_counted(Mode.TEST, counted)
    found = (await checked.precheck.already_known(Mode.TEST, [remembered, counted, fresh])).found
    assert found == {remembered, counted}
    assert (await checked.precheck.already_known(Mode.LIVE, [remembered, counted])).found == set()


async def test_keys_remembered_with_their_lookup_are_known_as_the_ones_remembered_without(checked: Checked) -> None:
    """Ingest hands `remember` the lookup of the same request (each key digested once): the marks written
    from it are the ones a lookup finds, and a key the lookup did not cover is still remembered."""
    looked_up_key, other, not_looked_up = unique("l"), unique("o"), unique("n")
    looked_up = await checked.precheck.already_known(Mode.TEST, [looked_up_key, other])
    assert looked_up.found == set()
    await checked.precheck.remember(Mode.TEST, [looked_up_key, not_looked_up], NOW, looked_up)
    assert (await checked.precheck.already_known(Mode.TEST, [looked_up_key, other, not_looked_up])).found == {
        looked_up_key, not_looked_up}


async def test_a_dead_lettered_key_is_known_in_its_mode(checked: Checked) -> None:
    """The gateway's own memory of a key is short (hourly slices): a retry of a key the processor
    dead-lettered is still answered as a duplicate, from the processor's record of it."""
    dead, fresh = unique("d"), unique("f")
    await checked.dead_letter(Mode.LIVE, dead)
    assert (await checked.precheck.already_known(Mode.LIVE, [dead, fresh])).found == {dead}
    assert (await checked.precheck.already_known(Mode.TEST, [dead])).found == set()


@pytest.mark.parametrize("url", ["redis", pytest.param("redis_cluster", marks=pytest.mark.redis_cluster)])
async def test_an_acknowledged_key_is_forgotten_an_hour_after_its_slice_unless_counted(
        request: pytest.FixtureRequest, settings: Settings, url: str) -> None:
    """Acknowledged keys live in hourly slices, each expiring an hour after its end: past that, only the
    processor's marks answer (counted keys stay known for W + skew)."""
    redis = connect_redis(request.getfixturevalue("redis_cluster").url if url == "redis_cluster"
                          else settings.redis_dsn)
    try:
        store = usage_store(redis, settings)
        precheck = RedisDuplicatePrecheck(redis, store.counted_layouts, AcknowledgedKeys(redis, 3_600))
        old, recent, counted = unique("o"), unique("r"), unique("c")
        long_ago = NOW - timedelta(hours=3)
        await precheck.remember(Mode.TEST, [old, counted], long_ago)
        await store.apply([CountableEvent(Mode.TEST, counted, "cus_1", "tokens", long_ago, ())], long_ago)
        await precheck.remember(Mode.TEST, [recent], NOW)
        assert (await precheck.already_known(Mode.TEST, [old, recent, counted])).found == {recent, counted}
    finally:
        await redis.aclose()


@pytest.fixture(params=["memory", "postgres"])
async def directory(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[tuple[CustomerDirectory, str]]:
    """A directory holding one test-mode customer, and that customer's id."""
    if request.param == "memory":
        yield Directory({Mode.TEST: {"cus_known"}}), "cus_known"
        return
    pool = await create_pool(settings.database_dsn)
    try:
        customer = Customer(new_id(IdKind.CUSTOMER), Mode.TEST, unique("ext"), "c", None, {}, NOW)
        await CatalogRepository(pool).add_customer(customer)
        yield CatalogRepository(pool), customer.id
    finally:
        await pool.close()


@pytest.mark.postgres
async def test_a_customer_exists_in_its_own_mode_only(directory: tuple[CustomerDirectory, str]) -> None:
    customers, known = directory
    assert await customers.existing_customer_ids(Mode.TEST, {known, "cus_nobody"}) == {known}
    assert await customers.existing_customer_ids(Mode.LIVE, {known}) == set()


@dataclass
class Published:
    publisher: EventPublisher
    read_back: Callable[[], Awaitable[list[tuple[Mode, str]]]]


@pytest.fixture(params=["memory", "kafka", "spool"])
async def published(request: pytest.FixtureRequest, settings: Settings, tmp_path: Path) -> AsyncIterator[Published]:
    if request.param == "memory":
        fake = Publisher()

        async def fake_read() -> list[tuple[Mode, str]]:
            return fake.published
        yield Published(fake, fake_read)
        return
    mine = await own_topics(settings)

    async def read() -> list[tuple[Mode, str]]:
        return [(mode, r.idempotency_key) for mode in Mode for r in await read_topic(mine, mode)]
    async with producer_for(mine) as producer:
        if request.param == "kafka":
            yield Published(KafkaPublisher(producer, {mode: mine.events_topic(mode) for mode in Mode}), read)
            return
        async with spool_on(mine, tmp_path, producer) as spool:
            yield Published(spool, read)


async def test_what_publish_returned_for_is_there_in_its_mode(published: Published) -> None:
    test, live = events("t", 20), events("l", 5)
    await published.publisher.publish(Mode.TEST, test, NOW)
    await published.publisher.publish(Mode.LIVE, live, NOW)
    assert sorted(await published.read_back()) == sorted(
        [(Mode.TEST, e.idempotency_key) for e in test] + [(Mode.LIVE, e.idempotency_key) for e in live])

"""The processor on a 3-master Redis Cluster: events written to Kafka are counted exactly, on record once,
and accounted, even when one master is killed with SIGKILL mid-stream and restarted on its AOF (fsynced on
every write). While the master is away its slots refuse commands; the processor retries the batch (a
dependency is away) without committing its offsets, and the replay after the restart counts nothing twice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from meterflow.adapters.kafka import last_offsets, unprocessed
from meterflow.adapters.postgres import Pool
from meterflow.adapters.redis_client import CLUSTER_SLOT_GROUPS, RedisClient, connect_redis
from meterflow.adapters.redis_keys import KeySpace
from meterflow.adapters.usage_store import UsageStore
from meterflow.domain.counting import RollupKey
from meterflow.settings import Settings
from services.wiring import kafka_setup
from tests.faults.conftest import Accounted, assert_on_record, counted, open_books, produce, wait_for_exact, workload
from tests.redis_cluster import LocalRedisCluster
from tests.support import ServiceProcess, eventually

pytestmark = pytest.mark.redis_cluster


@pytest.fixture
async def cluster_client(redis_cluster: LocalRedisCluster) -> AsyncIterator[RedisClient]:
    client = connect_redis(redis_cluster.url)
    yield client
    await client.aclose()


async def test_a_master_killed_mid_stream_and_restarted_on_its_aof_loses_and_doubles_nothing(
        redis_cluster_settings: Settings, redis_cluster: LocalRedisCluster, cluster_client: RedisClient,
        pool: Pool) -> None:
    on_cluster = redis_cluster_settings
    store = UsageStore(cluster_client, dedupe_window=timedelta(days=7), clock_skew=timedelta(minutes=5),
                       retention=timedelta(days=1))
    books = await open_books(pool, customers=12)
    events, expected = workload(books, originals=6_000)
    before = await Accounted.read(cluster_client, books.mode)
    victim = redis_cluster.node_of(KeySpace(CLUSTER_SLOT_GROUPS).rollups(
        RollupKey(books.mode, books.count_metric, books.customers[0], 0)))
    await produce(on_cluster, books.mode, events)
    ends = await last_offsets(kafka_setup(on_cluster))
    with ServiceProcess.running("processor", on_cluster):
        await eventually(lambda: counted(store, books), lambda c: c[0] >= expected.events // 4, 120)
        victim.kill()
        mid_stream = await unprocessed(kafka_setup(on_cluster), ends)
        victim.start()
        redis_cluster.wait_healthy()
        await wait_for_exact(store, books, expected, on_cluster)
    assert mid_stream, "the master was killed after the processor had committed every record"
    await assert_on_record(pool, books, expected)
    after = await Accounted.read(cluster_client, books.mode, before.start)
    assert after.since(before) == (len(events), expected.events, len(events) - expected.events, 0, 0)

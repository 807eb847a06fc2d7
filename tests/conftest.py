"""Real servers for the whole session: started once, on free ports, torn down at the end.

By default the embedded stack (Tansu, Valkey, PostgreSQL from wheels); with MF_TEST_CONTAINERS=1 and a
Docker engine, Apache Kafka, Redis and Postgres containers (testcontainers). A server that cannot start
fails the session: nothing here ever skips for want of a server.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

import testkit.environment
from meterflow.adapters.kafka import ensure_topics
from meterflow.adapters.postgres import Pool, create_pool
from meterflow.adapters.redis_client import RedisClient, connect_redis
from meterflow.domain.modes import Mode
from meterflow.migrations import upgrade_to_head
from meterflow.settings import Settings
from services.devstack.embedded import build_stack, running
from services.key_ops import create_api_key
from services.wiring import kafka_setup
from testkit.folders import data_folder
from testkit.ports import free_port
from tests.redis_cluster import LocalRedisCluster
from tests.support import ServiceProcess, TestEnvironment, stack_settings


@pytest.fixture(scope="session")
def environment() -> Iterator[TestEnvironment]:
    # Not pytest's tmp_path: its root is private to the user, and Postgres runs as another user under root.
    data_dir = data_folder("meterflow-test-")
    if os.environ.get("MF_TEST_CONTAINERS") == "1":
        from tests.containers import container_settings

        with container_settings(data_dir) as settings:
            yield _prepared(TestEnvironment(settings, None))
        return
    ports = {"kafka_port": free_port(), "redis_port": free_port(), "postgres_port": free_port()}
    with running(build_stack(data_dir, **ports)) as stack:
        settings = stack_settings(data_dir, f"127.0.0.1:{ports['kafka_port']}",
                                 f"redis://127.0.0.1:{ports['redis_port']}/0",
                                 f"postgresql://postgres@127.0.0.1:{ports['postgres_port']}/meterflow")
        yield _prepared(TestEnvironment(settings, stack))
    shutil.rmtree(data_dir, ignore_errors=True)


def _prepared(environment: TestEnvironment) -> TestEnvironment:
    upgrade_to_head(environment.settings.database_dsn)
    asyncio.run(ensure_topics(kafka_setup(environment.settings)))
    return environment


@pytest.fixture(scope="session")
def settings(environment: TestEnvironment) -> Settings:
    return environment.settings


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[LocalRedisCluster]:
    """A 3-master Valkey cluster (AOF fsynced on every write), started once, only for the tests that ask."""
    cluster = LocalRedisCluster(Path(tempfile.mkdtemp(prefix="meterflow-cluster-")))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(cluster.data_dir, ignore_errors=True)


@pytest.fixture
async def redis_cluster_settings(settings: Settings, redis_cluster: LocalRedisCluster) -> Settings:
    """Settings of a test's own services (topics, group, ports: `testkit.environment.isolated`) on the local cluster."""
    return await testkit.environment.isolated(settings, "cluster", topic_partitions=4, redis_url=redis_cluster.url)


@pytest.fixture(scope="session")
def gateway(settings: Settings) -> Iterator[ServiceProcess]:
    with ServiceProcess.running("gateway", settings) as service:
        yield service


@pytest.fixture(scope="session")
def processor(settings: Settings) -> Iterator[ServiceProcess]:
    with ServiceProcess.running("processor", settings) as service:
        yield service


@pytest.fixture(scope="session")
def test_key(settings: Settings) -> str:
    return asyncio.run(create_api_key(settings, Mode.TEST))


@pytest.fixture(scope="session")
def live_key(settings: Settings) -> str:
    return asyncio.run(create_api_key(settings, Mode.LIVE))


@pytest.fixture
async def api(settings: Settings, gateway: ServiceProcess, processor: ServiceProcess,
              test_key: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the running gateway (and a running processor behind it), test mode."""
    # An idle connection is let go before the gateway closes it (`MF_HTTP_KEEP_ALIVE_S`, 5 s): at httpx's
    # default of 5 s too, a request sent on a connection idle for just that long met the server's close
    # ("Server disconnected without sending a response").
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.api_port}",
                                 headers={"Authorization": f"Bearer {test_key}"}, timeout=30,
                                 limits=httpx.Limits(keepalive_expiry=settings.http_keep_alive_s / 2)) as client:
        yield client


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[Pool]:
    pool = await create_pool(settings.database_dsn)
    yield pool
    await pool.close()


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[RedisClient]:
    client = connect_redis(settings.redis_dsn)
    yield client
    await client.aclose()


STACK_SERVERS = ("kafka", "redis", "postgres")  # the session's stack
SERVERS = (*STACK_SERVERS, "redis_cluster")
# What each server-backed fixture touches. A test that asks for one must declare those servers.
FIXTURE_SERVERS: dict[str, frozenset[str]] = {
    "environment": frozenset(), "settings": frozenset(),
    "redis": frozenset({"redis"}), "pool": frozenset({"postgres"}),
    "redis_cluster": frozenset({"redis_cluster"}), "redis_cluster_settings": frozenset({"redis_cluster", "kafka"}),
    "test_key": frozenset({"postgres"}), "live_key": frozenset({"postgres"}),
    "gateway": frozenset(STACK_SERVERS), "processor": frozenset(STACK_SERVERS), "api": frozenset(STACK_SERVERS),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests under e2e/, browser/, faults/ and fuzz/ drive the whole stack: they carry every server marker. Elsewhere
    a test declares the servers it touches itself (`pytestmark = pytest.mark.redis`)."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        if {"e2e", "browser", "faults", "fuzz"} & set(parts):
            for marker in STACK_SERVERS:
                item.add_marker(marker)


@pytest.fixture(autouse=True)
def declared_servers(request: pytest.FixtureRequest) -> None:
    """Snuba's rule: the markers are the contract. A marked test gets the session's servers; a test that
    reaches a server through a fixture without declaring it fails here, loudly, instead of passing on a
    machine where the servers happen to run (or hiding a unit test that is really an integration test)."""
    declared = {marker.name for marker in request.node.iter_markers() if marker.name in SERVERS}
    used = [name for name in request.fixturenames if name in FIXTURE_SERVERS]
    if used and not declared:
        pytest.fail(f"{request.node.nodeid} uses {', '.join(used)} (real servers) but declares none: "
                    f"mark it with pytest.mark.{'/'.join(SERVERS)}", pytrace=False)
    missing = {server for name in used for server in FIXTURE_SERVERS[name]} - declared
    if missing:
        pytest.fail(f"{request.node.nodeid} touches {', '.join(sorted(missing))} through its fixtures "
                    f"but does not declare it: add pytest.mark.{', pytest.mark.'.join(sorted(missing))}",
                    pytrace=False)
    if declared:
        request.getfixturevalue("environment")

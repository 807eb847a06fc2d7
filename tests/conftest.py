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
from redis.asyncio import Redis

from meterflow.adapters.kafka import ensure_topics
from meterflow.adapters.postgres import Pool, create_pool
from meterflow.adapters.redis_client import connect_redis
from meterflow.domain.modes import Mode
from meterflow.embedded import build_stack, free_port, running
from meterflow.keys import create_api_key
from meterflow.migrations import upgrade_to_head
from meterflow.settings import Settings
from tests.support import ServiceProcess, TestEnvironment, stack_settings


@pytest.fixture(scope="session")
def environment() -> Iterator[TestEnvironment]:
    # Not pytest's tmp_path: its root is private to the user, and Postgres runs as another user under root.
    data_dir = Path(tempfile.mkdtemp(prefix="meterflow-test-"))
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
    asyncio.run(ensure_topics(environment.settings))
    return environment


@pytest.fixture(scope="session")
def settings(environment: TestEnvironment) -> Settings:
    return environment.settings


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
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.api_port}",
                                 headers={"Authorization": f"Bearer {test_key}"}, timeout=30) as client:
        yield client


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[Pool]:
    pool = await create_pool(settings.database_dsn)
    yield pool
    await pool.close()


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = connect_redis(settings.redis_dsn)
    yield client
    await client.aclose()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests under integration/, e2e/ and faults/ touch real servers: say so with markers."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        if {"e2e", "faults"} & set(parts):
            for marker in ("kafka", "redis", "postgres"):
                item.add_marker(marker)

"""A meterflow stack (gateway, processor, period close) on a 3-master Redis Cluster, end to end: events
ingested over HTTP, retried duplicates answered as such, counted once, read back through the usage API,
and billed exactly by the period close. (Batches spanning many slot groups: tests/integration/test_redis_cluster.py
and tests/faults/test_redis_cluster_master_kill.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import pytest

from meterflow.settings import Settings
from tests.e2e.period_tools import calls, daily_setup, invoices_of, meterflow, usage_reaches_total
from tests.e2e.scenario import ingest
from tests.support import ServiceProcess

pytestmark = pytest.mark.redis_cluster


@pytest.fixture
async def cluster_api(redis_cluster_settings: Settings, test_key: str) -> AsyncIterator[httpx.AsyncClient]:
    """The test's own gateway and processor, on the cluster."""
    with ServiceProcess.running("gateway", redis_cluster_settings), \
            ServiceProcess.running("processor", redis_cluster_settings):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{redis_cluster_settings.api_port}",
                                     headers={"Authorization": f"Bearer {test_key}"}, timeout=30) as client:
            yield client


async def test_ingest_count_and_close_on_a_cluster_bill_exactly(
        cluster_api: httpx.AsyncClient, redis_cluster_settings: Settings, today: datetime) -> None:
    setup = await daily_setup(cluster_api, today)
    sent = calls(setup, 2, 4) + calls(setup, 1, 3)
    assert len((await ingest(cluster_api, sent))["ingested"]) == 7
    retried = await ingest(cluster_api, sent[:2])  # a client's retry of acknowledged events
    assert (retried["ingested"], retried["duplicates"]) == ([], [e["idempotency_key"] for e in sent[:2]])
    await usage_reaches_total(cluster_api, setup, 7)
    closed = meterflow(redis_cluster_settings, "close-periods", "--subscription", setup["subscription"])
    assert closed.returncode == 0, closed.stderr
    assert [i["total"] for i in await invoices_of(cluster_api, setup["customer"])] == ["0.00", "2.00", "1.50"]

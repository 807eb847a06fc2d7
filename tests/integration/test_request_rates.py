"""The shared request budget per API key, on one Redis node and on a cluster: every gateway process
counts against the same key, so a key gets its limit per second and not one request more."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from meterflow.adapters.redis_client import connect_redis
from meterflow.adapters.request_rates import RequestRates
from meterflow.settings import Settings
from tests.support import unique

pytestmark = pytest.mark.redis


@pytest.fixture(params=["redis", pytest.param("redis_cluster", marks=pytest.mark.redis_cluster)])
async def url(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[str]:
    yield request.getfixturevalue("redis_cluster").url if request.param == "redis_cluster" else settings.redis_dsn


async def test_two_gateways_share_one_budget_per_key_and_second(url: str) -> None:
    first, second = connect_redis(url), connect_redis(url)
    try:
        # Connected (and, on a cluster, its slots discovered) before counting: an answer later than the
        # limiter's 100 ms admits the request by design, and would not be a test of the budget.
        await first.ping()
        await second.ping()
        gateways = [RequestRates(first, limit_per_s=3), RequestRates(second, limit_per_s=3)]
        key, other, now = unique("key"), unique("key"), datetime.now(UTC)
        admitted = [await gateways[i % 2].admit(key, now) for i in range(5)]
        assert admitted == [True, True, True, False, False]
        assert await gateways[1].admit(other, now)
    finally:
        await first.aclose()
        await second.aclose()

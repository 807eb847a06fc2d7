"""On the real stack: a create whose answer is lost on the way back is retried by the SDK with the same
Idempotency-Key and creates once; `async for` walks every page of a long list."""

from __future__ import annotations

import asyncio

from meterflow.settings import Settings
from meterflow_client import AsyncMeterflow, RetryPolicy
from tests.e2e.sdk.dropping_proxy import DroppingProxy
from tests.support import unique

FAST = RetryPolicy(max_retries=3, initial_delay_s=0.05, max_delay_s=0.2)


async def test_a_create_whose_answer_was_lost_is_retried_and_creates_once(settings: Settings, base_url: str,
                                                                         test_key: str) -> None:
    external_id = unique("ext")
    async with DroppingProxy(settings.api_port, drops=2).running() as proxy, \
            AsyncMeterflow(api_key=test_key, base_url=f"http://127.0.0.1:{proxy.port}", retry_policy=FAST) as sdk:
        customer = await sdk.customers.create(external_id=external_id, name="Once")
        # Three requests reached the gateway: the two whose answers were dropped, and the retry answered
        # from the stored first answer. A second execution would have been refused as a duplicate
        # external_id (409), and a new id would differ from the first.
        assert proxy.forwarded == 3
    async with AsyncMeterflow(api_key=test_key, base_url=base_url) as direct:
        assert await direct.customers.get(customer.id) == customer
        same = [c async for c in direct.customers.list(limit=1_000) if c.external_id == external_id]
    assert [c.id for c in same] == [customer.id]


async def test_async_for_walks_every_page_of_250_customers(async_client: AsyncMeterflow) -> None:
    prefix = unique("page")
    created = await asyncio.gather(*[async_client.customers.create(external_id=f"{prefix}_{n}", name=f"C{n}")
                                     for n in range(250)])
    pager = async_client.customers.list(limit=100)
    walked = [c.id async for c in pager]
    assert len(walked) == len(set(walked)), "a page repeated an object"
    assert {c.id for c in created} <= set(walked)
    assert len(walked) >= 250

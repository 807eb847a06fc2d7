"""The webhook worker's composition root: delivery wired here, once per process, to the delivery tables, an
HTTP sender and the DNS resolver, and closed here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from meterflow.adapters.postgres import Pool, create_pool
from meterflow.adapters.webhook_delivery_repository import WebhookDeliveryRepository
from meterflow.adapters.webhook_http import DnsResolver, HttpSender
from meterflow.application.webhook_delivery import WebhookDelivery
from meterflow.clock import Clock
from meterflow.settings import Settings


@dataclass(frozen=True)
class Worker:
    delivery: WebhookDelivery
    pool: Pool
    clock: Clock


@asynccontextmanager
async def webhook_worker(settings: Settings, clock: Clock) -> AsyncIterator[Worker]:
    pool = await create_pool(settings.database_dsn, max_size=10)
    sender = HttpSender(settings.webhook_timeout_s)
    try:
        yield Worker(WebhookDelivery(WebhookDeliveryRepository(pool), sender, DnsResolver(), clock,
                                     settings.webhook_retry_schedule_s, settings.webhook_timeout_s,
                                     settings.webhook_lease_s, settings.webhook_allow_private_urls,
                                     settings.webhook_claim_batch), pool, clock)
    finally:
        await sender.aclose()
        await pool.close()

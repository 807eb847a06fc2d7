"""The payment worker's composition root: collection wired here, once per process, to the payment tables and
to both providers over one HTTP client, and closed here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial

import httpx

from meterflow.adapters.payment_repository import PaymentRepository
from meterflow.adapters.postgres import Pool, create_pool
from meterflow.adapters.unit_of_work import PostgresUnitOfWork
from meterflow.application.collection import Collection
from meterflow.clock import Clock
from meterflow.settings import Settings
from services.wiring import collection, payment_providers


@dataclass(frozen=True)
class Worker:
    collection: Collection
    queue: PaymentRepository  # read for the age of the oldest due charge (a gauge)
    pool: Pool
    clock: Clock


@asynccontextmanager
async def payment_worker(settings: Settings, clock: Clock) -> AsyncIterator[Worker]:
    pool = await create_pool(settings.database_dsn, max_size=10)
    client = httpx.AsyncClient()
    try:
        collect = collection(settings, partial(PostgresUnitOfWork, pool), payment_providers(settings, client), clock)
        yield Worker(collect, PaymentRepository(pool), pool, clock)
    finally:
        await client.aclose()
        await pool.close()

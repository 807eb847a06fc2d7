"""Webhook figures: delivery throughput (events/s to a local receiver) and the time from a change to its
first delivery attempt (p99).

A real `meterflow webhooks` worker sends to an aiohttp receiver in this process, one test-mode endpoint
subscribed to every type. Events are written through the outbox exactly as a use case writes them
(`record_webhooks` in a Postgres unit of work, so the fan-out and the commit's wake-up are the real ones).
Throughput: `events` written before the worker starts, timed from the first arrival to the last, to one
endpoint (whose deliveries go in order, one after another), then to several endpoints at once.
Latency: events written at a steady pace while the worker runs, from the commit to the arrival.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

from aiohttp import web

from bench.services import spawn, stop, wait_ready
from meterflow.adapters.postgres import Pool, create_pool
from meterflow.adapters.unit_of_work import PostgresUnitOfWork
from meterflow.adapters.webhook_endpoint_repository import WebhookEndpointRepository
from meterflow.application.webhook_outbox import Change, record_webhooks
from meterflow.domain.catalog import Customer
from meterflow.domain.events import decode_json
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.modes import Mode
from meterflow.domain.webhooks import EndpointStatus, EventType, WebhookEndpoint
from meterflow.settings import Settings
from services.devstack.embedded import free_port

WRITE_BATCH = 100


@dataclass
class Arrivals:
    # (endpoint path, event id) → time.time() of its first arrival
    first_at: dict[tuple[str, str], float] = field(default_factory=dict)
    requests: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        arrived = time.time()
        event = decode_json(await request.read())
        self.requests += 1
        self.first_at.setdefault((request.path, event["id"]), arrived)
        return web.Response(text="ok")


@dataclass(frozen=True)
class WebhookFigures:
    events: int
    deliveries_per_s: float
    endpoints_at_once: int
    deliveries_per_s_at_once: float  # the same events to `endpoints_at_once` endpoints, sent concurrently
    latency_samples: int
    first_attempt_p50_s: float
    first_attempt_p99_s: float
    duplicates: int


async def _write(pool: Pool, org_id: str, count: int) -> dict[str, float]:
    """`count` customer.created events in transactions of WRITE_BATCH: event id → commit time."""
    committed: dict[str, float] = {}
    uow = partial(PostgresUnitOfWork, pool)
    for start in range(0, count, WRITE_BATCH):
        now = datetime.now(UTC)
        changes: list[Change] = [(EventType.CUSTOMER_CREATED, Customer(new_id(IdKind.CUSTOMER), Mode.TEST,
                                                                        f"bench-{start + i}", "bench", None, {}, now))
                                 for i in range(min(WRITE_BATCH, count - start))]
        async with uow() as unit:
            events = await record_webhooks(unit.webhooks, org_id, changes, now)
            await unit.commit()
        at = time.time()
        committed |= {e.id: at for e in events}
    return committed


async def _wait_for(arrivals: Arrivals, ids: set[tuple[str, str]], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not ids <= arrivals.first_at.keys():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(ids - arrivals.first_at.keys())} events not delivered in {timeout_s}s")
        await asyncio.sleep(0.05)


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _endpoint(pool: Pool, port: int, path: str) -> WebhookEndpoint:
    now = datetime.now(UTC)
    endpoint = WebhookEndpoint(new_id(IdKind.WEBHOOK_ENDPOINT), Mode.TEST, f"http://127.0.0.1:{port}{path}", ("*",),
                               "bench", EndpointStatus.ENABLED, "whsec_bench", now, now)
    await WebhookEndpointRepository(pool).add_endpoint(endpoint)
    return endpoint


def _rate(arrivals: Arrivals, keys: list[tuple[str, str]]) -> float:
    times = [arrivals.first_at[k] for k in keys]
    return len(keys) / max(1e-9, max(times) - min(times))


async def measure(settings: Settings, events: int, paced_seconds: float, endpoints_at_once: int = 4) -> WebhookFigures:
    own = settings.model_copy(update={"webhook_web_port": free_port(), "processor_id": "bench-webhooks"})
    arrivals = Arrivals()
    app = web.Application()
    app.router.add_post("/{path}", arrivals.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    pool = await create_pool(own.database_dsn)
    made = [await _endpoint(pool, port, "/one")]
    worker = None
    try:
        # One endpoint: its deliveries go one after another (per-endpoint order), so this is the bound.
        backlog = await _write(pool, own.org_id, events)
        worker = spawn(own, "webhooks")
        await wait_ready(f"http://127.0.0.1:{own.webhook_web_port}/readyz", worker)
        one = [("/one", i) for i in backlog]
        await _wait_for(arrivals, set(one), 600)
        rate = _rate(arrivals, one)

        paced: dict[str, float] = {}
        deadline = time.monotonic() + paced_seconds
        while time.monotonic() < deadline:  # 20 changes of 5 events each per second
            paced |= await _write(pool, own.org_id, 5)
            await asyncio.sleep(0.05)
        await _wait_for(arrivals, {("/one", i) for i in paced}, 120)
        delays = [arrivals.first_at[("/one", i)] - committed for i, committed in paced.items()]

        # Several endpoints: their runs go at once.
        await WebhookEndpointRepository(pool).delete_endpoint(Mode.TEST, made[0].id, datetime.now(UTC))
        made += [await _endpoint(pool, port, f"/many{n}") for n in range(endpoints_at_once)]
        many = [(f"/many{n}", i) for i in await _write(pool, own.org_id, events // endpoints_at_once)
                for n in range(endpoints_at_once)]
        await _wait_for(arrivals, set(many), 600)
        return WebhookFigures(len(backlog), rate, endpoints_at_once, _rate(arrivals, many), len(delays),
                              _quantile(delays, 0.5), _quantile(delays, 0.99),
                              arrivals.requests - len(arrivals.first_at))
    finally:
        if worker is not None:
            await asyncio.to_thread(stop, worker)
        for endpoint in made:
            await WebhookEndpointRepository(pool).delete_endpoint(Mode.TEST, endpoint.id, datetime.now(UTC))
        await pool.close()
        await runner.cleanup()

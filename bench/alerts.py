"""Alert figure: from the event that crosses a usage threshold to its `alert.triggered` webhook, p99, at
~1,000 events/s.

A gateway, a processor and a webhook worker run as real subprocesses. Each of `customers` customers has a
subscription (through the API) and a usage alert on it with 20 thresholds, one every `step` events. A load
process posts, every `interval_s`, one request holding `batch` events of each customer (one sender
waiting for each answer, so a customer's events stay in order), and receives the webhooks on a local
aiohttp server: a threshold's latency runs from the answer of the request holding its crossing event to
the arrival of its `alert.triggered`. Every threshold must arrive exactly once or the figure is refused.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
from aiohttp import web

from bench import services
from bench.latency import UsageOf
from bench.loadgen import in_load_process
from bench.services import spawn, stop, wait_ready
from bench.stack import isolated
from bench.workload import Books, encoded, event, open_books, unique_key
from meterflow.adapters.postgres import create_pool
from meterflow.domain.events import decode_json, format_timestamp
from meterflow.domain.modes import Mode
from meterflow.settings import Settings
from services.devstack.embedded import free_port
from services.key_ops import create_api_key

THRESHOLDS = 20
WARMUP_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class Pace:
    customers: int
    batch: int
    interval_s: float
    step: int  # events between two thresholds

    @property
    def events_per_s(self) -> float:
        return self.customers * self.batch / self.interval_s


@dataclass(frozen=True)
class AlertLatencies:
    p50_s: float
    p99_s: float
    max_s: float
    samples: int
    events_per_s: float
    delivered_twice: int


@dataclass
class _Arrivals:
    at: dict[tuple[str, int], float] = field(default_factory=dict)  # (alert, threshold index) → first arrival
    requests: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        arrived = time.time()
        alert = decode_json(await request.read())["data"]["alert"]
        self.requests += 1
        self.at.setdefault((alert["id"], alert["states"][0]["threshold_index"]), arrived)
        return web.Response(text="ok")


async def _send(client: httpx.AsyncClient, watched: list[tuple[str, str]], pace: Pace,
                crossed: dict[tuple[str, int], float]) -> float:
    """Every `interval_s` one request of `batch` events for each customer (one sender: each customer's
    events stay in order), until every last threshold is crossed; notes the answer time of the request
    that crossed each threshold. Answers the seconds it sent for."""
    sent, started = 0, time.perf_counter()
    for n in range(THRESHOLDS * pace.step // pace.batch):
        await asyncio.sleep(max(0.0, started + n * pace.interval_s - time.perf_counter()))
        body = encoded({"events": [event(customer, unique_key(), i) for customer, _ in watched
                                   for i in range(pace.batch)]})
        response = await client.post("/v1/ingest", content=body)
        response.raise_for_status()
        if len(response.json()["ingested"]) != pace.batch * len(watched):
            raise AssertionError(f"events refused: {response.text[:500]}")
        answered, before = time.time(), sent
        sent += pace.batch
        for index in range(before // pace.step, sent // pace.step):
            crossed |= {(alert, index): answered for _, alert in watched}
    return time.perf_counter() - started


def load(base_url: str, api_key: str, watched: list[tuple[str, str]], pace: Pace, port: int) -> AlertLatencies:
    """In the load process: the senders and the receiver."""
    return asyncio.run(_run_on(base_url, api_key, watched, pace, port))


async def _run_on(base_url: str, api_key: str, watched: list[tuple[str, str]], pace: Pace,
                  port: int) -> AlertLatencies:
    arrivals, crossed = _Arrivals(), dict[tuple[str, int], float]()
    app = web.Application()
    app.router.add_post("/alerts", arrivals.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    try:
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
            seconds = await _send(client, watched, pace, crossed)
            deadline = time.monotonic() + 60
            while not crossed.keys() <= arrivals.at.keys():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{len(crossed.keys() - arrivals.at.keys())} thresholds never delivered")
                await asyncio.sleep(0.05)
            await asyncio.sleep(1)  # a late second firing of any threshold would arrive by now
    finally:
        await runner.cleanup()
    if arrivals.at.keys() != crossed.keys():
        raise AssertionError("a threshold that was not crossed fired")
    latencies = [max(0.0, arrivals.at[k] - answered) for k, answered in crossed.items()]
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    events = len(watched) * THRESHOLDS * pace.step
    return AlertLatencies(cuts[49], cuts[98], max(latencies), len(latencies), events / seconds,
                          arrivals.requests - len(arrivals.at))


@asynccontextmanager
async def _webhook_worker(settings: Settings) -> AsyncIterator[None]:
    worker = spawn(settings, "webhooks")
    try:
        await wait_ready(f"http://127.0.0.1:{settings.webhook_web_port}/readyz", worker)
        yield
    finally:
        await asyncio.to_thread(stop, worker)


async def _created(response: httpx.Response, name: str) -> str:
    response.raise_for_status()
    made: str = response.json()[name]["id"]
    return made


async def _watch(client: httpx.AsyncClient, books: Books, pace: Pace, port: int) -> list[tuple[str, str]]:
    """A plan on the count metric, a subscription and a usage alert for each customer, and the endpoint:
    (customer, alert) pairs."""
    plan = await _created(await client.post("/v1/plans", json={
        "name": "bench", "currency": "NGN", "plan_type": "collection", "billing_period": "monthly",
        "prices": [{"metric_id": books.count_metric, "model": "flat_unit", "unit_price": "0.01"}]}), "plan")
    await _created(await client.post("/v1/webhook_endpoints", json={
        "url": f"http://127.0.0.1:{port}/alerts", "events": ["alert.triggered"]}), "webhook_endpoint")
    # Started two hours ago: the period's partial first hour is in the past, folded once and kept, as for
    # any subscription past the first hour of its period (docs/usage-edges.md).
    started, watched = format_timestamp(datetime.now(UTC) - timedelta(hours=2)), []
    for customer in books.customers:
        subscription = await _created(await client.post("/v1/subscriptions", json={
            "customer_id": customer, "plan_id": plan, "start_date": started}), "subscription")
        alert = await _created(await client.post("/v1/alerts", json={
            "type": "usage_exceeded", "scope": "subscription", "scope_id": subscription,
            "metric_id": books.count_metric,
            "thresholds": [{"value": str(pace.step * (i + 1)), "label": f"t{i}"} for i in range(THRESHOLDS)]}),
            "alert")
        watched.append((customer, alert))
    return watched


async def _warm_up(client: httpx.AsyncClient, books: Books, customer_id: str) -> None:
    """One event of a customer no alert watches, waited for: the processor has joined its group."""
    (await client.post("/v1/ingest", content=encoded({"events": [event(customer_id, unique_key(), 0)]}))
     ).raise_for_status()
    usage, deadline = UsageOf(client, books.count_metric), time.monotonic() + WARMUP_TIMEOUT_S
    while await usage.count(customer_id) < 1:
        if time.monotonic() > deadline:
            raise TimeoutError("the processor counted nothing within the warm-up")
        await asyncio.sleep(0.05)


async def measure(settings: Settings, pace: Pace) -> AlertLatencies:
    own = (await isolated(settings, "alerts")).model_copy(update={"webhook_web_port": free_port()})
    api_key, port = await create_api_key(own, Mode.TEST), free_port()
    pool = await create_pool(own.database_dsn)
    try:
        books = await open_books(pool, pace.customers + 1)
    finally:
        await pool.close()
    headers = {"Authorization": f"Bearer {api_key}"}
    async with services.gateway(own) as base_url, services.processor(own), _webhook_worker(own), \
            httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
        watched = await _watch(client, Books(books.mode, books.customers[1:], books.count_metric,
                                             books.sum_metric), pace, port)
        await _warm_up(client, books, books.customers[0])
        return await in_load_process(load, base_url, api_key, watched, pace, port)

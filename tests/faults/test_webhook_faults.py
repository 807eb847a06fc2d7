"""kill -9 of the webhook delivery worker mid-delivery, and of the closer mid-close: after a restart every
webhook event is delivered at least once, none is missing and none is invented, checked against Postgres
(the changes made, and the outbox written with them)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from meterflow.adapters.postgres import Pool
from meterflow.settings import Settings
from tests.e2e.scenario import created, the
from tests.faults.test_closer_faults import due_subscriptions, invoice_counts, start_close
from tests.support import ServiceProcess, eventually, unique
from tests.webhook_receiver import Receiver, receiving

WORKER = {"webhook_lease_s": "3", "webhook_timeout_s": "2", "webhook_poll_interval_s": "0.1"}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as receiver:
        yield receiver


@pytest.fixture
def worker(settings: Settings) -> Iterator[ServiceProcess]:
    service = ServiceProcess("webhooks", settings)
    yield service
    service.stop()


async def hook(api: httpx.AsyncClient, receiver: Receiver, path: str, events: list[str]) -> dict[str, Any]:
    return the(await api.post("/v1/webhook_endpoints", json={"url": receiver.url(path), "events": events}),
               "webhook_endpoint", 201)


async def outbox(pool: Pool, endpoint_id: str) -> dict[str, dict[str, Any]]:
    """The events the outbox holds for an endpoint (through its deliveries), by id, with their payloads."""
    rows = await pool.fetch("SELECT v.id, v.payload FROM webhook_deliveries d JOIN webhook_events v "
                            "ON v.id = d.event_id WHERE d.endpoint_id = $1", endpoint_id)
    return {r["id"]: r["payload"] for r in rows}


async def statuses(pool: Pool, endpoint_id: str) -> dict[str, int]:
    rows = await pool.fetch("SELECT status, count(*) AS n FROM webhook_deliveries WHERE endpoint_id = $1 "
                            "GROUP BY status", endpoint_id)
    return {r["status"]: r["n"] for r in rows}


def none_invented(receiver: Receiver, path: str, stored: dict[str, dict[str, Any]]) -> None:
    """Every request carried an event of the outbox, byte for byte as stored."""
    for request in receiver.at(path):
        event = request.event
        assert event["id"] in stored, f"an event not in the outbox was delivered: {event['id']}"
        assert json.loads(json.dumps(stored[event["id"]])) == event


async def test_worker_killed_mid_delivery_then_restarted_delivers_every_event_in_order(
        api: httpx.AsyncClient, pool: Pool, receiver: Receiver, worker: ServiceProcess) -> None:
    endpoint = await hook(api, receiver, "/customers", ["customer.created"])
    try:
        receiver.delay_s = 0.01  # a receiver taking its time: the kill lands with deliveries in flight
        customers: list[str] = []
        for _ in range(15):
            batch = await asyncio.gather(*(api.post("/v1/customers", json={"external_id": unique("e"), "name": "n"})
                                           for _ in range(20)))
            customers += [(await created(r))["id"] for r in batch]
        worker.start(**WORKER)
        await eventually(lambda: _count(receiver, "/customers"), lambda n: n >= 60, 60, interval_s=0.01)
        worker.kill()
        partial = await statuses(pool, endpoint["id"])
        assert 0 < partial.get("succeeded", 0) < len(customers), partial

        worker.start(**WORKER)
        await eventually(lambda: statuses(pool, endpoint["id"]), lambda s: s == {"succeeded": len(customers)}, 120)
        stored = await outbox(pool, endpoint["id"])
        received = [r.event for r in receiver.at("/customers")]
        assert {e["id"] for e in received} == set(stored)  # none missing
        assert sorted(e["data"]["customer"]["id"] for e in {e["id"]: e for e in received}.values()) == sorted(
            customers)
        none_invented(receiver, "/customers", stored)
        firsts = list(dict.fromkeys(e["id"] for e in received))
        by_time = await pool.fetch("SELECT id FROM webhook_events WHERE id = ANY($1::text[]) ORDER BY created_at, id",
                                   firsts)
        assert firsts == [r["id"] for r in by_time], "first deliveries out of event order"
        assert len(received) - len(firsts) <= 20, "at least once, but not many times"
    finally:
        await api.delete(f"/v1/webhook_endpoints/{endpoint['id']}")
    assert "Traceback" not in worker.log()


async def _count(receiver: Receiver, path: str) -> int:
    return len(receiver.at(path))


async def test_closer_killed_mid_close_then_rerun_reports_each_finalized_invoice_once(
        api: httpx.AsyncClient, settings: Settings, pool: Pool, receiver: Receiver, worker: ServiceProcess) -> None:
    endpoint = await hook(api, receiver, "/invoices", ["invoice.finalized"])
    try:
        worker.start(**WORKER)
        customer, subscriptions = await due_subscriptions(pool, 1_000)
        closer = start_close(settings)
        await eventually(lambda: invoice_counts(pool, customer), lambda c: c[0] > 0, 120, interval_s=0.02)
        closer.kill()
        closer.wait()
        partial = await invoice_counts(pool, customer)
        assert 0 < partial[0] < 3 * len(subscriptions), partial
        rerun = start_close(settings)
        _, stderr = await asyncio.to_thread(rerun.communicate, timeout=300)
        assert rerun.returncode == 0, stderr

        invoices = {r["id"] for r in await pool.fetch(
            "SELECT id FROM invoices WHERE customer_id = $1 AND status = 'finalized'", customer)}
        assert len(invoices) == 3 * len(subscriptions)
        reported = await pool.fetch(
            "SELECT payload->'data'->'invoice'->>'id' AS invoice_id FROM webhook_events "
            "WHERE type = 'invoice.finalized' AND payload->'data'->'invoice'->>'customer_id' = $1", customer)
        assert sorted(r["invoice_id"] for r in reported) == sorted(invoices)  # each once: none lost, none invented

        def delivered() -> set[str]:
            return {r.event["data"]["invoice"]["id"] for r in receiver.at("/invoices")
                    if r.event["data"]["invoice"]["customer_id"] == customer}

        await eventually(lambda: _done(delivered), lambda got: got >= invoices, 180, interval_s=0.5)
        assert delivered() == invoices
        none_invented(receiver, "/invoices", await outbox(pool, endpoint["id"]))
    finally:
        await api.delete(f"/v1/webhook_endpoints/{endpoint['id']}")
    assert "Traceback" not in worker.log()


async def _done(delivered: Any) -> set[str]:
    found: set[str] = delivered()
    return found

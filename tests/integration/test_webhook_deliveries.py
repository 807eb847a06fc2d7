"""Webhook deliveries against real Postgres: two workers claiming at once never get the same delivery;
one endpoint's deliveries are claimed oldest first and not past one leased to another worker; an outcome
is written only by the claim holding the lease, once, with its attempt logged; an expired lease is
claimed again. Times are set in 1990, so that only this test's deliveries are due."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from meterflow.adapters.postgres import Pool
from meterflow.adapters.webhook_delivery_repository import WebhookDeliveryRepository, events_created_at
from meterflow.adapters.webhook_endpoint_repository import WebhookEndpointRepository
from meterflow.adapters.webhook_event_repository import WebhookOutboxRepository
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.modes import Mode
from meterflow.domain.webhooks import (
    Attempt,
    DeliveryStatus,
    EndpointStatus,
    EventType,
    WebhookEndpoint,
    build_event,
    fan_out,
    outcome_of,
)

pytestmark = [pytest.mark.postgres]
T0 = datetime(1990, 1, 1, tzinfo=UTC)
LEASE = timedelta(seconds=30)


async def endpoint_with_events(pool: Pool, events: int) -> tuple[WebhookEndpoint, list[str]]:
    """An enabled endpoint and `events` events to it, one second apart from T0: their ids, oldest first."""
    endpoint = WebhookEndpoint(new_id(IdKind.WEBHOOK_ENDPOINT), Mode.TEST, "http://127.0.0.1:9/h", ("*",), None,
                               EndpointStatus.ENABLED, "whsec_x", T0, T0)
    await WebhookEndpointRepository(pool).add_endpoint(endpoint)
    made = [build_event(EventType.CUSTOMER_CREATED, Mode.TEST, "customer", {"id": f"cus_{n}"},
                        T0 + timedelta(seconds=n)) for n in range(events)]
    await WebhookOutboxRepository(pool).add(made, [d for e in made for d in fan_out(e, [endpoint])])
    return endpoint, [e.id for e in made]


async def forget(pool: Pool, endpoint: WebhookEndpoint) -> None:
    await WebhookEndpointRepository(pool).delete_endpoint(Mode.TEST, endpoint.id, T0)


async def test_two_workers_claiming_at_once_never_share_a_delivery_and_order_holds(pool: Pool) -> None:
    endpoints = [await endpoint_with_events(pool, 20) for _ in range(4)]
    try:
        store, now = WebhookDeliveryRepository(pool), T0 + timedelta(minutes=1)
        first, second = await asyncio.gather(store.claim(now, 1_000, now + LEASE, "a"),
                                             store.claim(now, 1_000, now + LEASE, "b"))
        ids_a, ids_b = {d.id for d in first}, {d.id for d in second}
        assert not ids_a & ids_b
        assert len(ids_a | ids_b) == 80  # every endpoint's deliveries went to one of them, whole
        for endpoint, event_ids in endpoints:
            runs = [[d.event_id for d in claimed if d.endpoint_id == endpoint.id] for claimed in (first, second)]
            assert sorted(runs, key=len) == [[], event_ids]  # one worker per endpoint, oldest first
        assert await store.claim(now, 1_000, now + LEASE, "c") == []  # all leased
    finally:
        for endpoint, _ in endpoints:
            await forget(pool, endpoint)


async def test_a_newer_delivery_waits_while_an_older_one_is_leased_and_only_the_lease_holder_records(
        pool: Pool) -> None:
    endpoint, event_ids = await endpoint_with_events(pool, 3)
    try:
        store, now = WebhookDeliveryRepository(pool), T0 + timedelta(minutes=1)
        [oldest] = await store.claim(now, 1, now + LEASE, "a")
        assert oldest.event_id == event_ids[0]
        assert await store.claim(now, 10, now + LEASE, "b") == []  # the newer ones wait for it

        attempt = Attempt(1, now, 5, 500, "HTTP 500")
        stale = outcome_of(oldest, attempt, (60.0,))
        later = now + LEASE + timedelta(seconds=1)  # the lease ran out: claimed again, by "c"
        [again] = await store.claim(later, 1, later + LEASE, "c")
        assert again.id == oldest.id and again.attempts == 0
        await store.record([stale], later)  # "a" comes back late: nothing is written
        unchanged = await store.delivery(Mode.TEST, oldest.id)
        assert unchanged is not None and unchanged.attempts == 0

        await store.record([outcome_of(again, Attempt(1, later, 5, 500, "HTTP 500"), (60.0,))], later)
        await store.record([outcome_of(again, Attempt(1, later, 5, 500, "HTTP 500"), (60.0,))], later)  # twice
        [listed] = [d for d in (await store.deliveries(Mode.TEST, endpoint.id, 10, None))[0] if d.id == oldest.id]
        assert (listed.status, listed.attempts, listed.last_status_code) == (DeliveryStatus.PENDING, 1, 500)
        assert [(a.number, a.status_code) for a in listed.history] == [(1, 500)]
        assert listed.next_attempt_at == later + timedelta(seconds=60, milliseconds=5)
        # Its retry is due later than the newer deliveries: they no longer wait for it.
        assert [d.event_id for d in await store.claim(later, 10, later + LEASE, "d")] == event_ids[1:]
    finally:
        await forget(pool, endpoint)


async def test_retention_forgets_old_events_whose_deliveries_are_done_and_keeps_a_pending_one(pool: Pool) -> None:
    endpoint, (done_id, pending_id) = await endpoint_with_events(pool, 2)
    try:
        store, now = WebhookDeliveryRepository(pool), T0 + timedelta(minutes=1)
        [delivered] = await store.claim(now, 1, now + LEASE, "a")
        await store.record([outcome_of(delivered, Attempt(1, now, 5, 200, None), (60.0,))], now)
        assert await WebhookOutboxRepository(pool).forget_before(T0 + timedelta(days=1)) >= 1
        left = await pool.fetch("SELECT id FROM webhook_events WHERE id = ANY($1::text[])", [done_id, pending_id])
        assert [r["id"] for r in left] == [pending_id]
        assert await pool.fetchval("SELECT count(*) FROM webhook_attempts WHERE delivery_id = $1", delivered.id) == 0
        assert await store.delivery(Mode.TEST, delivered.id) is None
    finally:
        await forget(pool, endpoint)


async def test_each_delivery_reads_back_when_its_event_was_recorded(pool: Pool) -> None:
    """What the worker's change → first attempt delay is measured from: the event's own time, per delivery."""
    endpoint, _ = await endpoint_with_events(pool, 3)
    try:
        store, now = WebhookDeliveryRepository(pool), T0 + timedelta(minutes=1)
        claimed = await store.claim(now, 10, now + LEASE, "a")
        created = await events_created_at(pool, [d.id for d in claimed])
        assert created == {d.id: T0 + timedelta(seconds=n) for n, d in enumerate(claimed)}
    finally:
        await forget(pool, endpoint)

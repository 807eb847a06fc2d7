"""Webhooks end to end: the gateway, a delivery worker (`meterflow webhooks`, schedule shrunk to 0.2 s and
0.4 s) and a real HTTP receiver in this process. What a receiver gets is checked against the API and
against Postgres: once, signed, equal to the object the API shows; retried as scheduled; isolated by mode."""

from __future__ import annotations

import operator
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from meterflow.adapters.postgres import Pool
from meterflow.adapters.webhook_endpoint_repository import WebhookEndpointRepository
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.modes import Mode
from meterflow.domain.webhooks import EndpointStatus, WebhookEndpoint
from meterflow.settings import Settings
from tests.e2e.scenario import billing_setup, created, listed, the
from tests.e2e.test_replay import replayer_of
from tests.support import ServiceProcess, eventually, unique
from tests.webhook_receiver import Receiver, receiving, verify

NewEndpoint = Callable[..., Awaitable[dict[str, Any]]]
WORKER_SETTINGS = {"webhook_retry_schedule_s": "0.2,0.4", "webhook_poll_interval_s": "0.1", "webhook_lease_s": "5",
                   "webhook_timeout_s": "2", "webhook_allow_private_urls": "true"}


@pytest.fixture(scope="module")
def worker(settings: Settings) -> Iterator[ServiceProcess]:
    """Live deliveries to 127.0.0.1 allowed in this worker only: the gateway keeps refusing such URLs."""
    with ServiceProcess.running("webhooks", settings, **WORKER_SETTINGS) as service:
        yield service
    assert "Traceback" not in service.log(), service.log()[-3000:]


@pytest.fixture
async def receiver(worker: ServiceProcess) -> AsyncIterator[Receiver]:
    async with receiving() as receiver:
        yield receiver


@pytest.fixture
async def endpoint(api: httpx.AsyncClient, receiver: Receiver) -> AsyncIterator[NewEndpoint]:
    """Creates test-mode endpoints on the receiver; deletes them afterwards, so that no other test's
    changes are delivered to a receiver that is gone."""
    made: list[str] = []

    async def create(path: str, events: list[str]) -> dict[str, Any]:
        body = {"url": receiver.url(path), "events": events, "description": "test receiver"}
        item = the(await api.post("/v1/webhook_endpoints", json=body), "webhook_endpoint", 201)
        made.append(item["id"])
        return item

    yield create
    for endpoint_id in made:
        assert (await api.delete(f"/v1/webhook_endpoints/{endpoint_id}")).status_code in (200, 404)


async def deliveries(api: httpx.AsyncClient, endpoint_id: str) -> list[dict[str, Any]]:
    return listed(await api.get(f"/v1/webhook_endpoints/{endpoint_id}/deliveries"), "deliveries")


def settled(items: list[dict[str, Any]], count: int) -> bool:
    return len(items) == count and all(d["status"] != "pending" for d in items)


async def test_a_finalized_invoice_is_delivered_once_signed_and_equal_to_the_api_s_invoice(
        api: httpx.AsyncClient, receiver: Receiver, endpoint: NewEndpoint) -> None:
    hook = await endpoint("/finalized", ["invoice.finalized"])
    assert hook["id"].startswith("whe_") and hook["secret"].startswith("whsec_") and hook["status"] == "enabled"
    assert "secret" not in the(await api.get(f"/v1/webhook_endpoints/{hook['id']}"), "webhook_endpoint")
    setup = await billing_setup(api)
    draft = the(await api.post("/v1/invoices/generate", json={"subscription_id": setup.subscription_id}),
                "invoice", 201)
    the(await api.post(f"/v1/invoices/{draft['id']}/finalize"), "invoice")

    done = await eventually(lambda: deliveries(api, hook["id"]), lambda d: settled(d, 1), 30)
    assert done[0]["status"] == "succeeded" and done[0]["attempts"] == 1 and done[0]["type"] == "invoice.finalized"
    [got] = receiver.at("/finalized")  # once: invoice.created of the draft is not subscribed
    assert verify(got, hook["secret"]) and not verify(got, "whsec_wrong")
    assert got.headers["Content-Type"] == "application/json"
    event = got.event
    assert (event["id"], event["type"], event["is_test"]) == (done[0]["event_id"], "invoice.finalized", True)
    assert event["data"]["invoice"] == the(await api.get(f"/v1/invoices/{draft['id']}"), "invoice")
    signed_at = int(dict(p.split("=") for p in got.headers["Meterflow-Signature"].split(","))["t"])
    assert abs(signed_at - datetime.now(UTC).timestamp()) < 60


async def test_two_500s_then_a_200_are_three_attempts_logged_then_succeeded(
        api: httpx.AsyncClient, receiver: Receiver, endpoint: NewEndpoint) -> None:
    receiver.answer("/flaky", 500, 500, 200)
    hook = await endpoint("/flaky", ["customer.created"])
    customer = await created(await api.post("/v1/customers", json={"external_id": unique("e"), "name": "n"}))

    [done] = await eventually(lambda: deliveries(api, hook["id"]), lambda d: settled(d, 1), 30)
    assert (done["status"], done["attempts"], done["last_status_code"]) == ("succeeded", 3, 200)
    assert [a["status_code"] for a in done["attempt_history"]] == [500, 500, 200]
    assert [a["attempt"] for a in done["attempt_history"]] == [1, 2, 3]
    assert "receiver says no" in done["attempt_history"][0]["error"]
    bodies = {r.body for r in receiver.at("/flaky")}
    assert len(receiver.at("/flaky")) == 3 and len(bodies) == 1  # the same bytes every time
    assert receiver.at("/flaky")[0].event["data"]["customer"]["id"] == customer["id"]


async def test_an_endpoint_that_always_fails_is_failed_after_the_schedule_and_retry_now_delivers_again(
        api: httpx.AsyncClient, receiver: Receiver, endpoint: NewEndpoint) -> None:
    receiver.answer("/down", 500)
    hook = await endpoint("/down", ["customer.created"])
    await created(await api.post("/v1/customers", json={"external_id": unique("e"), "name": "n"}))

    [failed] = await eventually(lambda: deliveries(api, hook["id"]), lambda d: settled(d, 1), 30)
    assert (failed["status"], failed["attempts"], failed["next_attempt_at"]) == ("failed", 3, None)
    assert [a["status_code"] for a in failed["attempt_history"]] == [500, 500, 500]
    assert len(receiver.at("/down")) == 3

    receiver.answer("/down", 200)
    retried = the(await api.post(f"/v1/webhook_deliveries/{failed['id']}/retry"), "webhook_delivery")
    assert retried["status"] == "pending"
    [done] = await eventually(lambda: deliveries(api, hook["id"]), lambda d: settled(d, 1), 30)
    assert (done["status"], done["attempts"], done["last_status_code"]) == ("succeeded", 4, 200)
    assert len(receiver.at("/down")) == 4
    assert (await api.post("/v1/webhook_deliveries/whd_nope/retry")).status_code == 404


async def test_a_silent_receiver_holds_back_only_its_own_deliveries(
        api: httpx.AsyncClient, receiver: Receiver, endpoint: NewEndpoint) -> None:
    receiver.delays["/silent"] = 4.0  # beyond the worker's 2 s timeout
    silent = await endpoint("/silent", ["customer.created"])
    await endpoint("/fast", ["customer.created"])
    for n in (1, 2):  # the second while the silent receiver still holds the first attempt of its first
        await created(await api.post("/v1/customers", json={"external_id": unique("e"), "name": "n"}))
        started = time.monotonic()
        await eventually(lambda: _count(receiver, "/fast"), partial(operator.eq, n), 10, interval_s=0.02)
        assert time.monotonic() - started < 1.0, "the fast receiver waited on the silent one"

    waiting = await eventually(lambda: deliveries(api, silent["id"]),
                               lambda d: len(d) == 2 and all(x["attempts"] >= 1 for x in d), 15)
    for delivery in waiting:
        assert delivery["attempt_history"][0]["status_code"] is None
        assert delivery["attempt_history"][0]["error"] == "no answer within 2s"
    # In event order: the newer event's first attempt only once the older one's first attempt ended.
    older, newer = sorted(waiting, key=lambda d: d["created_at"])
    assert newer["attempt_history"][0]["started_at"] > older["attempt_history"][0]["started_at"]


async def test_test_and_live_endpoints_each_receive_only_their_own_mode_s_events(
        api: httpx.AsyncClient, settings: Settings, live_key: str, receiver: Receiver, endpoint: NewEndpoint,
        pool: Pool) -> None:
    await endpoint("/test-mode", ["*"])
    # A live endpoint on 127.0.0.1 is refused by the API (below), so this one is written straight into Postgres.
    now, live_store = datetime.now(UTC), WebhookEndpointRepository(pool)
    live = WebhookEndpoint(new_id(IdKind.WEBHOOK_ENDPOINT), Mode.LIVE, receiver.url("/live-mode"), ("*",), None,
                           EndpointStatus.ENABLED, "whsec_live", now, now)
    await live_store.add_endpoint(live)
    try:
        async with httpx.AsyncClient(base_url=str(api.base_url), headers={"Authorization": f"Bearer {live_key}"},
                                     timeout=30) as live_api:
            refused = await live_api.post("/v1/webhook_endpoints", json={
                "url": receiver.url("/nope"), "events": ["*"]})
            assert refused.status_code == 400 and "url" in refused.json()["details"], refused.text
            live_customer = await created(await live_api.post("/v1/customers", json={
                "external_id": unique("e"), "name": "live"}))
        test_customer = await created(await api.post("/v1/customers", json={"external_id": unique("e"), "name": "t"}))

        await eventually(lambda: _count(receiver), lambda n: n >= 2, 30)
        assert [r.event["data"]["customer"]["id"] for r in receiver.at("/test-mode")] == [test_customer["id"]]
        assert [r.event["data"]["customer"]["id"] for r in receiver.at("/live-mode")] == [live_customer["id"]]
        assert [r.event["is_test"] for r in receiver.at("/live-mode")] == [False]
        assert verify(receiver.at("/live-mode")[0], "whsec_live")
    finally:
        await live_store.delete_endpoint(Mode.LIVE, live.id, datetime.now(UTC))
    assert (await api.get(f"/v1/webhook_endpoints/{live.id}")).status_code == 404  # another mode's id


async def _count(receiver: Receiver, path: str | None = None) -> int:
    return len(receiver.at(path) if path else receiver.received)


async def test_subscription_and_customer_changes_arrive_in_order_each_with_the_object_as_the_api_shows_it(
        api: httpx.AsyncClient, receiver: Receiver, endpoint: NewEndpoint) -> None:
    await endpoint("/lifecycle", ["subscription.created", "subscription.paused", "subscription.canceled",
                                  "customer.deleted"])
    setup = await billing_setup(api)
    sub = f"/v1/subscriptions/{setup.subscription_id}"
    the(await api.patch(sub, json={"status": "paused"}), "subscription")
    the(await api.patch(sub, json={"status": "canceled"}), "subscription")
    assert (await api.delete(f"/v1/customers/{setup.customer_id}")).status_code == 200

    await eventually(lambda: _count(receiver, "/lifecycle"), partial(operator.le, 4), 30)
    got = [r.event for r in receiver.at("/lifecycle")]
    assert [e["type"] for e in got] == ["subscription.created", "subscription.paused", "subscription.canceled",
                                        "customer.deleted"]
    assert [e["data"]["subscription"]["status"] for e in got[:3]] == ["active", "paused", "canceled"]
    assert got[2]["data"]["subscription"] == the(await api.get(sub), "subscription")
    assert got[3]["data"]["customer"]["id"] == setup.customer_id
    assert [e["created_at"] for e in got] == sorted(e["created_at"] for e in got)


async def test_a_replay_job_s_end_is_delivered_with_the_job_as_the_api_shows_it(
        api: httpx.AsyncClient, receiver: Receiver, endpoint: NewEndpoint, pool: Pool, redis: Redis,
        settings: Settings) -> None:
    await endpoint("/replays", ["replay.completed", "replay.failed"])
    now = datetime.now(UTC)
    window = {"from": (now - timedelta(hours=2)).isoformat(), "to": now.isoformat(), "event_name": unique("none")}
    job = (await api.post("/v1/events/replay", json=window)).json()["job"]
    replayer = replayer_of(pool, redis, settings)
    while the(await api.get(f"/v1/events/replay/{job['id']}"), "job")["status"] == "pending":
        assert await replayer.run_next() is not None
    await eventually(lambda: _count(receiver, "/replays"), lambda n: n >= 1, 30)
    ends = [r.event for r in receiver.at("/replays") if r.event["data"]["job"]["id"] == job["id"]]
    assert [e["type"] for e in ends] == ["replay.completed"]
    assert ends[0]["data"]["job"] == the(await api.get(f"/v1/events/replay/{job['id']}"), "job")


async def test_endpoint_fields_are_checked_and_named(api: httpx.AsyncClient, endpoint: NewEndpoint) -> None:
    cases = [({"url": "ftp://example.com/x", "events": ["*"]}, "url"),
             ({"url": "https://example.com/x", "events": ["invoice.nope"]}, "events.0"),
             ({"url": "https://example.com/x", "events": ["invoice.paid", "invoice.paid"]}, "events[1]"),
             ({"url": "https://example.com/x", "events": []}, "events"),
             ({"url": "https://:80/x", "events": ["*"]}, "url")]
    for body, field in cases:
        answer = await api.post("/v1/webhook_endpoints", json=body)
        assert answer.status_code == 400, answer.text
        assert any(key.startswith(field.split(".")[0]) for key in answer.json()["details"]), (field, answer.text)
    hook = await endpoint("/changes", ["customer.created"])
    changed = the(await api.put(f"/v1/webhook_endpoints/{hook['id']}", json={
        "status": "disabled", "events": ["customer.deleted", "invoice.paid"]}), "webhook_endpoint")
    assert (changed["status"], changed["events"], changed["url"]) == ("disabled", ["customer.deleted", "invoice.paid"],
                                                                      hook["url"])
    listed_ids = [e["id"] for e in listed(await api.get("/v1/webhook_endpoints"), "webhook_endpoints")]
    assert hook["id"] in listed_ids


@pytest.mark.parametrize("host", ["100.64.0.1", "100.100.100.200", "224.0.0.251", "198.18.0.1", "[ff0e::1]",
                                  "[64:ff9b::a9fe:a9fe]", "[2002:a9fe:a9fe::1]", "[::ffff:100.64.0.1]",
                                  "[fec0::1]"])
async def test_a_live_endpoint_must_resolve_to_globally_routable_unicast_addresses_only(
        api: httpx.AsyncClient, live_key: str, host: str) -> None:
    """CGNAT (one cloud's metadata service), multicast, benchmarking, site-local, and an IPv4 address that
    is not public wrapped in NAT64, 6to4 or a mapped form: all refused at creation, naming `url`."""
    async with httpx.AsyncClient(base_url=str(api.base_url), headers={"Authorization": f"Bearer {live_key}"},
                                 timeout=30) as live_api:
        refused = await live_api.post("/v1/webhook_endpoints", json={"url": f"http://{host}/hook", "events": ["*"]})
        assert refused.status_code == 400, refused.text
        assert "not a public (globally routable unicast) address" in refused.json()["details"]["url"], refused.text
        public = the(await live_api.post("/v1/webhook_endpoints", json={
            "url": "http://[64:ff9b::808:808]/hook", "events": ["*"]}), "webhook_endpoint", 201)
        assert (await live_api.delete(f"/v1/webhook_endpoints/{public['id']}")).status_code == 200

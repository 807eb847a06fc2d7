"""Alerts on the real stack. Usage and cost thresholds are evaluated in the stream: the session's processor
evaluates the alerts of the customers each settled batch counted, so a usage threshold's `alert.triggered`
reaches a receiver (through a webhook worker) within 5 s of the event that crosses it, once: not again
after duplicates are sent, nor after an ops replay of that usage. A cost threshold fires when the open
period's draft reaches it. A balance threshold fires in the transaction of the debit that crosses it, and
again only after a credit re-armed it. Each firing is one `alert.triggered` in the webhook outbox, counted
in `meterflow_alerts_fired_total` by the process that fired it. Bad alerts are 400s naming the field; a
second alert of a type on a scope is a 409. (A processor killed mid-stream: tests/faults/test_alert_faults.py.)"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from meterflow.adapters.postgres import Pool
from meterflow.settings import Settings
from tests.e2e.scenario import Setup, billing_setup, event, ingest, rollup_of, the
from tests.e2e.test_replay import run_job
from tests.e2e.test_wallets import go_body, new_wallet
from tests.support import ServiceProcess, eventually, unique
from tests.webhook_receiver import Receiver, receiving

# Deliveries to this process's receiver on 127.0.0.1, polled every 0.1 s.
WORKER_SETTINGS = {"webhook_poll_interval_s": "0.1", "webhook_allow_private_urls": "true"}
WITHIN_S = 5.0  # from the crossing event (or debit) to its alert.triggered at the receiver


@pytest.fixture(scope="module")
def worker(settings: Settings) -> Iterator[ServiceProcess]:
    with ServiceProcess.running("webhooks", settings, **WORKER_SETTINGS) as service:
        yield service
    assert "Traceback" not in service.log(), service.log()[-3000:]


@pytest.fixture
async def receiver(api: httpx.AsyncClient, worker: ServiceProcess) -> AsyncIterator[Receiver]:
    """A receiver subscribed to alert.triggered (test mode) for the test's length."""
    async with receiving() as receiver:
        made = the(await api.post("/v1/webhook_endpoints", json={"url": receiver.url("/alerts"),
                                                                 "events": ["alert.triggered"]}),
                   "webhook_endpoint", 201)
        yield receiver
        await api.delete(f"/v1/webhook_endpoints/{made['id']}")


def delivered(receiver: Receiver, alert_id: str) -> list[int]:
    """The threshold index of each alert.triggered of this alert the receiver got."""
    return sorted(r.event["data"]["alert"]["states"][0]["threshold_index"] for r in receiver.at("/alerts")
                  if r.event["data"]["alert"]["id"] == alert_id)


async def delivered_soon(receiver: Receiver, alert_id: str, count: int, since: float) -> list[int]:
    """Waits for the alert's `count`-th delivery, which must arrive within WITHIN_S of `since`."""
    async def probe() -> list[int]:
        return delivered(receiver, alert_id)
    found = await eventually(probe, lambda d: len(d) >= count, timeout_s=WITHIN_S)
    assert time.monotonic() - since <= WITHIN_S, f"delivered after {time.monotonic() - since:.2f}s"
    return found


async def create_alert(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    return the(await api.post("/v1/alerts", json=fields), "alert", 201)


async def states(api: httpx.AsyncClient, alert_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = the(await api.get(f"/v1/alerts/{alert_id}"), "alert")["states"]
    return found


async def fired_webhooks(pool: Pool, alert_id: str) -> list[int]:
    """The threshold index of each alert.triggered event in the outbox for this alert."""
    rows = await pool.fetch("SELECT payload FROM webhook_events WHERE type = 'alert.triggered' AND "
                            "(payload -> 'data' -> 'alert' ->> 'id') = $1", alert_id)
    return sorted(r["payload"]["data"]["alert"]["states"][0]["threshold_index"] for r in rows)


async def count_events(api: httpx.AsyncClient, setup: Setup, keys: list[str]) -> None:
    for start in range(0, len(keys), 500):
        await ingest(api, [event(setup, key) for key in keys[start:start + 500]])


async def counted_events(api: httpx.AsyncClient, setup: Setup) -> int:
    now = datetime.now(UTC)
    window = {"customer_id": setup.customer_id, "metric_id": setup.metric_id,
              "from": (now - timedelta(hours=2)).isoformat(), "to": (now + timedelta(hours=1)).isoformat()}
    events: int = rollup_of(await api.get("/v1/usage", params=window))["event_count"]
    return events


async def test_a_usage_threshold_fires_once_within_seconds_of_the_crossing_event_and_a_cost_one_on_the_draft(
        api: httpx.AsyncClient, receiver: Receiver, pool: Pool, redis: Redis, settings: Settings) -> None:
    setup = await billing_setup(api)  # flat_unit 2.00 an event
    usage_alert = await create_alert(api, type="usage_exceeded", scope="subscription", scope_id=setup.subscription_id,
                                     metric_id=setup.metric_id, thresholds=[{"value": "100", "label": "hundred"},
                                                                            {"value": "130", "label": "more"}])
    cost_alert = await create_alert(api, type="cost_exceeded", scope="customer", scope_id=setup.customer_id,
                                    thresholds=[{"value": "200.00", "label": "spend"}])
    keys = [unique("req") for _ in range(100)]
    await count_events(api, setup, keys[:99])
    await eventually(lambda: counted_events(api, setup), lambda n: n == 99, timeout_s=30)
    assert await states(api, usage_alert["id"]) == []
    crossing = time.monotonic()
    await count_events(api, setup, keys[99:])  # the 100th event
    assert await delivered_soon(receiver, usage_alert["id"], 1, crossing) == [0]
    [fired] = await states(api, usage_alert["id"])
    assert (fired["threshold_index"], fired["observed"], fired["status"]) == (0, "100", "triggered")
    assert await delivered_soon(receiver, cost_alert["id"], 1, crossing) == [0]  # the draft: 200.00
    assert [s["observed"] for s in await states(api, cost_alert["id"])] == ["200.00"]

    await count_events(api, setup, keys)  # the same events again: duplicates, nothing more to count
    now = datetime.now(UTC)
    replayed = await run_job(pool, redis, settings, api, {"from": (now - timedelta(hours=1)).isoformat(),
                                                          "to": (now + timedelta(minutes=1)).isoformat(),
                                                          "event_name": setup.event_name})
    assert (replayed["status"], replayed["events_replayed"]) == ("completed", 100), replayed
    more = time.monotonic()
    await count_events(api, setup, [unique("req") for _ in range(30)])  # 130: the second threshold
    assert await delivered_soon(receiver, usage_alert["id"], 2, more) == [0, 1]  # the first not again
    assert sorted(s["threshold_index"] for s in await states(api, usage_alert["id"])) == [0, 1]
    assert await fired_webhooks(pool, usage_alert["id"]) == [0, 1]
    assert await fired_webhooks(pool, cost_alert["id"]) == [0]
    assert delivered(receiver, cost_alert["id"]) == [0]
    metrics = (await api.get(f"http://127.0.0.1:{settings.processor_web_port}/metrics")).text
    assert re.search(r'^meterflow_alerts_fired_total\{type="usage_exceeded"\} [1-9]', metrics, re.M), metrics[-2000:]


async def test_a_balance_threshold_fires_on_the_crossing_debit_and_rearms_after_a_credit(
        api: httpx.AsyncClient, receiver: Receiver, pool: Pool) -> None:
    wallet = await new_wallet(api)
    await api.post(f"/v1/wallets/{wallet['id']}/credit", json=go_body("100.00"))
    alert = await create_alert(api, type="wallet_balance_dropped", scope="customer", scope_id=wallet["customer_id"],
                               thresholds=[{"value": "10", "label": "empty"}, {"value": "50", "label": "low"}],
                               require_acknowledgment=True)
    await api.post(f"/v1/wallets/{wallet['id']}/debit", json=go_body("40.00"))  # 60.00: above both
    assert await states(api, alert["id"]) == []
    crossing = time.monotonic()
    await api.post(f"/v1/wallets/{wallet['id']}/debit", json=go_body("20.00"))  # 40.00: below 50
    [first] = await states(api, alert["id"])  # fired in the debit's own transaction
    assert (first["threshold_index"], first["wallet_id"], first["observed"]) == (1, wallet["id"], "40.00")
    assert await delivered_soon(receiver, alert["id"], 1, crossing) == [1]
    await api.post(f"/v1/wallets/{wallet['id']}/debit", json=go_body("1.00"))  # 39.00: still below, fired
    acknowledged = the(await api.post(f"/v1/alerts/{alert['id']}/acknowledge"), "alert")
    assert [s["status"] for s in acknowledged["states"]] == ["acknowledged"]
    await api.post(f"/v1/wallets/{wallet['id']}/credit", json=go_body("101.00"))  # 140.00: re-arms both
    assert await pool.fetchval("SELECT count(*) FROM alert_states WHERE alert_id = $1 AND "
                               "period_key LIKE 'rearmed %'", alert["id"]) == 1
    again = time.monotonic()
    await api.post(f"/v1/wallets/{wallet['id']}/debit", json=go_body("135.00"))  # 5.00: both cross
    assert sorted(s["threshold_index"] for s in await states(api, alert["id"])) == [0, 1, 1]
    assert await delivered_soon(receiver, alert["id"], 3, again) == [0, 1, 1]
    assert await fired_webhooks(pool, alert["id"]) == [0, 1, 1]
    metrics = (await api.get("/metrics")).text
    assert re.search(r'^meterflow_alerts_fired_total\{type="wallet_balance_dropped"\} [1-9]', metrics,
                     re.M), metrics[-2000:]


async def test_bad_alerts_name_their_field_and_a_scope_takes_one_alert_of_a_type(api: httpx.AsyncClient,
                                                                                 live_key: str) -> None:
    setup = await billing_setup(api)
    base = {"type": "usage_exceeded", "scope": "customer", "scope_id": setup.customer_id,
            "metric_id": setup.metric_id}
    live = {"Authorization": f"Bearer {live_key}"}
    live_metric = the(await api.post("/v1/metrics", headers=live, json={
        "name": "calls", "event_name": unique("e"), "aggregation": "count"}), "metric", 201)
    for body, param in (({**base, "thresholds": [{"value": "10"}, {"value": "5"}]}, "thresholds[1].value"),
                        ({**base, "thresholds": [{"value": "ten"}]}, "thresholds[0].value"),
                        ({**base, "metric_id": "", "thresholds": [{"value": "1"}]}, "metric_id"),
                        ({**base, "metric_id": live_metric["id"], "thresholds": [{"value": "1"}]}, "metric_id"),
                        ({**base, "type": "wallet_balance_dropped", "scope": "plan", "scope_id": setup.plan_id,
                          "thresholds": [{"value": "1"}]}, "scope")):
        refused = await api.post("/v1/alerts", json=body)
        assert refused.status_code == 400 and param in refused.json()["details"], refused.text
    made = await create_alert(api, **base, thresholds=[{"value": "1", "label": "first"}])
    assert (await api.post("/v1/alerts", json={**base, "thresholds": [{"value": "2"}]})).status_code == 409
    assert the(await api.post(f"/v1/alerts/{made['id']}/disable"), "alert")["status"] == "disabled"
    changed = the(await api.put(f"/v1/alerts/{made['id']}", json={"thresholds": [{"value": "5", "label": "x"}]}),
                  "alert")
    assert changed["thresholds"] == [{"value": "5", "label": "x"}]
    listed = (await api.get("/v1/alerts", params={"customer_id": setup.customer_id})).json()
    assert [a["id"] for a in listed["alerts"]] == [made["id"]] and listed["count"] == 1
    assert (await api.post(f"/v1/alerts/{made['id']}/acknowledge")).status_code == 409
    assert (await api.delete(f"/v1/alerts/{made['id']}")).status_code == 200
    assert (await api.get(f"/v1/alerts/{made['id']}")).status_code == 404

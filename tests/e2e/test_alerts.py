"""Alerts on the real stack: a closer evaluates them every MF_ALERT_INTERVAL_S (2 s). A usage threshold
fires once, within seconds of the event that crosses it, and not again after duplicates are sent; a cost
threshold fires when the open period's draft reaches it; a balance threshold fires on the debit that
crosses it and again only after a credit re-armed it; each firing is one `alert.triggered` in the webhook
outbox, and counted in the closer's `meterflow_alerts_fired_total`. Bad alerts are 400s naming the field;
a second alert of a type on a scope is a 409."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from meterflow.adapters.postgres import Pool
from meterflow.settings import Settings
from tests.e2e.scenario import Setup, billing_setup, event, ingest, the
from tests.e2e.test_wallets import go_body, new_wallet
from tests.support import ServiceProcess, eventually, unique


@pytest.fixture(scope="module")
def closer(settings: Settings) -> Iterator[ServiceProcess]:
    with ServiceProcess.running("closer", settings) as service:
        yield service
    assert "Traceback" not in service.log(), service.log()[-3000:]


@pytest.fixture
async def alert_endpoint(api: httpx.AsyncClient) -> AsyncIterator[None]:
    """An endpoint for alert.triggered, so that firings are written to the outbox (nobody delivers them here)."""
    made = the(await api.post("/v1/webhook_endpoints", json={"url": "http://127.0.0.1:9/alerts",
                                                             "events": ["alert.triggered"]}), "webhook_endpoint", 201)
    yield
    await api.delete(f"/v1/webhook_endpoints/{made['id']}")


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


async def test_a_usage_threshold_fires_once_within_seconds_and_a_cost_threshold_on_the_draft(
        api: httpx.AsyncClient, closer: ServiceProcess, alert_endpoint: None, pool: Pool,
        settings: Settings) -> None:
    setup = await billing_setup(api)  # flat_unit 2.00 an event
    usage_alert = await create_alert(api, type="usage_exceeded", scope="subscription", scope_id=setup.subscription_id,
                                     metric_id=setup.metric_id, thresholds=[{"value": "100", "label": "hundred"},
                                                                            {"value": "130", "label": "more"}])
    cost_alert = await create_alert(api, type="cost_exceeded", scope="customer", scope_id=setup.customer_id,
                                    thresholds=[{"value": "150.00", "label": "spend"}])
    keys = [unique("req") for _ in range(100)]
    await count_events(api, setup, keys)
    # How fast is for the bench to measure (event → alert p99); here only that it fires, within a deadline.
    fired = await eventually(lambda: states(api, usage_alert["id"]), lambda s: len(s) == 1, timeout_s=30)
    assert (fired[0]["threshold_index"], fired[0]["observed"], fired[0]["status"]) == (0, "100", "triggered")
    assert [s["observed"] for s in await states(api, cost_alert["id"])] == ["200.00"]
    await count_events(api, setup, keys)  # the same events again: duplicates, nothing more to count
    await count_events(api, setup, [unique("req") for _ in range(30)])  # 130: the second threshold
    after = await eventually(lambda: states(api, usage_alert["id"]), lambda s: len(s) == 2, timeout_s=30)
    assert sorted(s["threshold_index"] for s in after) == [0, 1]
    assert await fired_webhooks(pool, usage_alert["id"]) == [0, 1]
    assert await fired_webhooks(pool, cost_alert["id"]) == [0]
    metrics = (await api.get(f"http://127.0.0.1:{settings.closer_web_port}/metrics")).text
    assert re.search(r'^meterflow_alerts_fired_total\{type="usage_exceeded"\} [1-9]', metrics, re.M), metrics[-2000:]


async def test_a_balance_threshold_fires_on_the_crossing_debit_and_rearms_after_a_credit(
        api: httpx.AsyncClient, closer: ServiceProcess, alert_endpoint: None, pool: Pool) -> None:
    wallet = await new_wallet(api)
    await api.post(f"/v1/wallets/{wallet['id']}/credit", json=go_body("100.00"))
    alert = await create_alert(api, type="wallet_balance_dropped", scope="customer", scope_id=wallet["customer_id"],
                               thresholds=[{"value": "10", "label": "empty"}, {"value": "50", "label": "low"}],
                               require_acknowledgment=True)
    await api.post(f"/v1/wallets/{wallet['id']}/debit", json=go_body("60.00"))  # 40.00: below 50
    first = await eventually(lambda: states(api, alert["id"]), lambda s: len(s) == 1, timeout_s=30)
    assert (first[0]["threshold_index"], first[0]["wallet_id"], first[0]["observed"]) == (1, wallet["id"], "40.00")
    acknowledged = the(await api.post(f"/v1/alerts/{alert['id']}/acknowledge"), "alert")
    assert [s["status"] for s in acknowledged["states"]] == ["acknowledged"]
    await api.post(f"/v1/wallets/{wallet['id']}/credit", json=go_body("100.00"))  # 140.00: re-arms both
    await eventually(lambda: pool.fetchval("SELECT count(*) FROM alert_states WHERE alert_id = $1 AND "
                                           "period_key LIKE 'rearmed %'", alert["id"]), lambda n: n == 1, 30)
    await api.post(f"/v1/wallets/{wallet['id']}/debit", json=go_body("135.00"))  # 5.00: both cross
    again = await eventually(lambda: states(api, alert["id"]), lambda s: len(s) == 3, timeout_s=30)
    assert sorted(s["threshold_index"] for s in again) == [0, 1, 1]
    assert await fired_webhooks(pool, alert["id"]) == [0, 1, 1]


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

"""Period tests' tools: running the `meterflow` CLI against the test stack as ops would, and a daily plan
whose subscription started days ago, so its periods are due now without waiting."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta
from typing import Any

import httpx

from meterflow.settings import Settings
from tests.e2e.scenario import created, listed, rollup_of
from tests.support import eventually, service_env, unique


def meterflow(settings: Settings, *args: str, **overrides: Any) -> subprocess.CompletedProcess[str]:
    """`overrides` are settings for this run only (`close_grace_s=0`: close a period the moment it ends)."""
    return subprocess.run([sys.executable, "-m", "services", *args], env=service_env(settings, **overrides),
                          capture_output=True, text=True, timeout=300)


async def daily_setup(api: httpx.AsyncClient, today: datetime, days_ago: int = 3) -> dict[str, Any]:
    event_name = unique("call")
    customer = await created(await api.post("/v1/customers", json={"external_id": unique("c"), "name": "n"}))
    metric = await created(await api.post("/v1/metrics", json={"name": "calls", "event_name": event_name,
                                                                 "aggregation": "count"}))
    plan = await created(await api.post("/v1/plans", json={
        "name": "daily", "currency": "USD", "billing_period": "daily",
        "prices": [{"metric_id": metric["id"], "model": "flat", "unit_price": "0.50"}]}))
    subscription = await created(await api.post("/v1/subscriptions", json={
        "customer_id": customer["id"], "plan_id": plan["id"],
        "start_date": (today - timedelta(days=days_ago)).isoformat()}))
    return {"customer": customer["id"], "metric": metric["id"], "subscription": subscription["id"],
            "event_name": event_name, "today": today}


def calls(setup: dict[str, Any], day: int, n: int) -> list[dict[str, Any]]:
    at = setup["today"] - timedelta(days=day) + timedelta(hours=6)
    return [{"event_name": setup["event_name"], "customer_id": setup["customer"], "idempotency_key": unique("k"),
             "timestamp": at.isoformat()} for _ in range(n)]


async def invoices_of(api: httpx.AsyncClient, customer: str) -> list[dict[str, Any]]:
    body = listed(await api.get("/v1/invoices", params={"customer_id": customer, "limit": 100}), "invoices")
    return sorted(body, key=lambda i: (i["period_start"], i["created_at"]))


async def usage_reaches_total(api: httpx.AsyncClient, setup: dict[str, Any], n: int) -> None:
    async def probe() -> str:
        params = {"customer_id": setup["customer"], "metric_id": setup["metric"],
                  "from": (setup["today"] - timedelta(days=7)).isoformat(),
                  "to": (setup["today"] + timedelta(days=1)).isoformat()}
        return str(rollup_of(await api.get("/v1/usage", params=params))["value_exact"])

    await eventually(probe, lambda v: v == str(n))

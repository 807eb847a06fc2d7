"""kill -9 of the processor mid-stream while it evaluates a usage alert: every threshold the usage crosses
fires exactly once. Before the kill, thresholds already fired must not fire again when the restarted
processor reads its uncommitted records again and evaluates every alert in its first round; a threshold
crossed by records the killed process counted but whose round died with it fires after the restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from meterflow.adapters.kafka import last_offsets, unprocessed
from meterflow.adapters.postgres import Pool
from meterflow.adapters.usage_store import UsageStore
from meterflow.domain.modes import Mode
from meterflow.domain.usage import UsageQuery
from meterflow.settings import Settings
from services.wiring import kafka_setup
from testkit.figures import around_now
from testkit.kafka import produce_events
from tests.e2e.scenario import Setup, billing_setup, the
from tests.support import ServiceProcess, eventually, unique

EVENTS = 9_000
THRESHOLDS = ("100", "4500", "8900")


async def counted(store: UsageStore, setup: Setup) -> int:
    [figure] = await store.usage([UsageQuery(Mode.TEST, setup.metric_id, setup.customer_id, around_now())])
    return figure.rollup.events


async def fired(pool: Pool, alert_id: str) -> tuple[list[int], list[int]]:
    """The threshold indexes of the alert's states, and of its alert.triggered events in the outbox."""
    states = await pool.fetch("SELECT threshold_index FROM alert_states WHERE alert_id = $1", alert_id)
    events = await pool.fetch("SELECT payload FROM webhook_events WHERE type = 'alert.triggered' AND "
                              "(payload -> 'data' -> 'alert' ->> 'id') = $1", alert_id)
    return (sorted(r["threshold_index"] for r in states),
            sorted(r["payload"]["data"]["alert"]["states"][0]["threshold_index"] for r in events))


async def test_kill_9_mid_stream_fires_each_threshold_once(isolated: Settings, api: httpx.AsyncClient, pool: Pool,
                                                           usage_store: UsageStore) -> None:
    setup = await billing_setup(api)
    endpoint = the(await api.post("/v1/webhook_endpoints", json={"url": "http://127.0.0.1:9/alerts",
                                                                 "events": ["alert.triggered"]}),
                   "webhook_endpoint", 201)
    alert = the(await api.post("/v1/alerts", json={
        "type": "usage_exceeded", "scope": "customer", "scope_id": setup.customer_id, "metric_id": setup.metric_id,
        "thresholds": [{"value": v, "label": v} for v in THRESHOLDS]}), "alert", 201)
    now = datetime.now(UTC)
    events: list[dict[str, Any]] = [
        {"event_name": setup.event_name, "customer_id": setup.customer_id, "idempotency_key": unique("k"),
         "timestamp": (now + timedelta(microseconds=i)).isoformat()} for i in range(EVENTS)]
    await produce_events(isolated, Mode.TEST, events)

    processor = ServiceProcess("processor", isolated)
    processor.start()
    try:
        # The first threshold has fired before the kill (its state and its event); a fast processor's first
        # round may already have seen the second crossed too, so "only the first" is not asked here.
        await eventually(lambda: fired(pool, alert["id"]), lambda f: 0 in f[0] and 0 in f[1], 120, interval_s=0.05)
        await eventually(lambda: counted(usage_store, setup), lambda n: n >= EVENTS // 3, 120, interval_s=0.05)
        processor.kill()
        assert 0 < await counted(usage_store, setup) < EVENTS, "the kill must land mid-stream"
        processor.start()
        ends = await last_offsets(kafka_setup(isolated))
        await eventually(lambda: unprocessed(kafka_setup(isolated), ends), lambda left: not left, 120, interval_s=0.5)
        assert await counted(usage_store, setup) == EVENTS
        assert await eventually(lambda: fired(pool, alert["id"]), lambda f: len(f[0]) == len(THRESHOLDS), 30) == (
            [0, 1, 2], [0, 1, 2])
    finally:
        processor.stop()
        await api.delete(f"/v1/webhook_endpoints/{endpoint['id']}")
    assert "Traceback" not in processor.log()

"""Every service answers /healthz, /readyz and /metrics, and the counters move with real traffic."""

from __future__ import annotations

import httpx
from meterflow.settings import Settings

from tests.e2e.scenario import billing_setup, event, ingest, usage_reaches
from tests.support import ServiceProcess, eventually


def metric_value(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and not line.startswith("#"))


async def test_gateway_and_processor_export_health_and_counters(api: httpx.AsyncClient, settings: Settings) -> None:
    setup = await billing_setup(api, aggregation="sum", prop="tokens")
    await ingest(api, [event(setup, properties={"tokens": "5"}), event(setup, properties={"tokens": "oops"}),
                       {**event(setup), "event_name": ""}])
    await usage_reaches(api, setup, "5")
    async with httpx.AsyncClient() as client:
        for port in (settings.api_port, settings.processor_web_port):
            base = f"http://127.0.0.1:{port}"
            assert (await client.get(f"{base}/healthz")).status_code == 200
            ready = await client.get(f"{base}/readyz")
            assert ready.status_code == 200, ready.text
            assert set(ready.json()["checks"]) >= {"postgres", "redis", "kafka"}
        gateway_metrics = (await client.get(f"http://127.0.0.1:{settings.api_port}/metrics")).text
        assert metric_value(gateway_metrics, "meterflow_events_accepted_total") >= 2
        assert metric_value(gateway_metrics, 'meterflow_events_rejected_total{reason="event_name"}') >= 1
        processor_metrics = await eventually(
            lambda: _text(client, f"http://127.0.0.1:{settings.processor_web_port}/metrics"),
            lambda text: f'meterflow_unbillable_events_total{{metric_id="{setup.metric_id}"}} 1.0' in text)
        assert metric_value(processor_metrics, "meterflow_events_counted_total") >= 2
        assert "meterflow_processing_latency_seconds_bucket" in processor_metrics
        assert "meterflow_consumer_lag{" in processor_metrics


async def _text(client: httpx.AsyncClient, url: str) -> str:
    return (await client.get(url)).text


async def test_closer_serves_health_and_metrics(settings: Settings) -> None:
    with ServiceProcess.running("closer", settings):
        async with httpx.AsyncClient() as client:
            base = f"http://127.0.0.1:{settings.closer_web_port}"
            health = await eventually(lambda: _get(client, f"{base}/healthz"), lambda r: r == 200)
            assert health == 200
            assert (await client.get(f"{base}/readyz")).json()["checks"] == {"postgres": "ok", "redis": "ok"}
            text = await eventually(lambda: _text(client, f"{base}/metrics"),
                                    lambda t: "meterflow_close_duration_seconds_count" in t)
            assert metric_value(text, "meterflow_close_duration_seconds_count") >= 1


async def _get(client: httpx.AsyncClient, url: str) -> int:
    try:
        return (await client.get(url)).status_code
    except httpx.HTTPError:
        return 0

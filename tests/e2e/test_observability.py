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
            await eventually(lambda: _get(client, f"{base}/healthz"), lambda r: r == 200)
            assert (await client.get(f"{base}/readyz")).json()["checks"] == {"postgres": "ok", "redis": "ok"}
            # The histogram exists (at 0) from start-up: wait for a finished round, not for the name.
            text = await eventually(lambda: _text(client, f"{base}/metrics"),
                                    lambda t: metric_value(t, "meterflow_close_duration_seconds_count") >= 1)
            assert "meterflow_invoices_closed_total" in text


async def _get(client: httpx.AsyncClient, url: str) -> int:
    try:
        return (await client.get(url)).status_code
    except httpx.HTTPError:
        return 0


async def test_request_id_is_echoed_and_travels_in_the_event_headers(api: httpx.AsyncClient,
                                                                    settings: Settings) -> None:
    from aiokafka import AIOKafkaConsumer

    from tests.e2e.scenario import billing_setup, event

    setup = await billing_setup(api)
    sent = event(setup)
    response = await api.post("/v1/ingest", json={"events": [sent]}, headers={"X-Request-Id": "trace-123"})
    assert response.headers["X-Request-Id"] == "trace-123"
    assert (await api.get("/v1/customers")).headers["X-Request-Id"]  # one is made when none is given

    consumer = AIOKafkaConsumer(settings.events_topic_test, bootstrap_servers=settings.kafka_servers,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        async def find() -> dict[str, bytes] | None:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    if sent["idempotency_key"].encode() in record.value:
                        return dict(record.headers)
            return None

        headers = await eventually(find, lambda h: h is not None)
    finally:
        await consumer.stop()
    assert headers is not None and headers["request_id"] == b"trace-123"

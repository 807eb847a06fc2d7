"""Every event accounted for, over HTTP on the real stack (docs/accounting.md): after events ingested over
HTTP (and the same keys sent again), records written straight to the events topic (some repeating keys
already counted) and poison records there too, every hour of receipt holds
acknowledged = counted + duplicates + dead_lettered + lost + in_flight, and in_flight falls to 0.

The session's other tests account in the same hours and mode, so the figures checked are what this test
added to them; in flight, which every test's events leave at 0 once settled, is checked whole."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from meterflow.domain.accounting import HOUR, hour_of
from meterflow.domain.events import encode_json, format_timestamp
from meterflow.domain.modes import Mode
from meterflow.settings import Settings
from tests.e2e.period_tools import meterflow
from tests.e2e.scenario import billing_setup, event, ingest
from tests.support import eventually

FIGURES = ("acknowledged", "counted", "duplicates", "dead_lettered", "lost", "in_flight")


async def figures(api: httpx.AsyncClient, start: datetime) -> dict[str, Any]:
    """The figures summed over the hours from `start` to the end of the next hour (a test may cross an
    hour), and every row, for the identity."""
    response = await api.get("/v1/reconciliation", params={"from": format_timestamp(start),
                                                            "to": format_timestamp(start + 2 * HOUR)})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(body["hours"]) == 2
    return {"rows": body["hours"], **{name: sum(row[name] for row in body["hours"]) for name in FIGURES}}


async def write_straight(settings: Settings, values: list[bytes], customer_id: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_servers, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(settings.events_topic(Mode.TEST), value, key=customer_id.encode())
    finally:
        await producer.stop()


async def test_every_hour_balances_after_duplicates_and_poisons_and_nothing_stays_in_flight(
        api: httpx.AsyncClient, settings: Settings) -> None:
    setup = await billing_setup(api)
    start = hour_of(datetime.now(UTC))
    before = await figures(api, start)

    over_http = [event(setup) for _ in range(40)]
    assert len((await ingest(api, over_http))["ingested"]) == 40
    again = await ingest(api, over_http)  # a retry after a 202: duplicates at the gateway, not acknowledged
    assert len(again["duplicates"]) == 40 and again["ingested"] == []
    direct = [event(setup) for _ in range(15)] + over_http[:10]  # 10 keys already counted: duplicates
    poisons = [b"\xff not json", encode_json(event(setup, customer_id="cus_nobody")),
               encode_json({**event(setup), "event_name": ""})]
    await write_straight(settings, [encode_json(e) for e in direct] + poisons, setup.customer_id)

    expected = {"acknowledged": 40 + 25 + 3, "counted": 40 + 15, "duplicates": 10, "dead_lettered": 3, "lost": 0}

    def settled(now: dict[str, Any]) -> bool:
        return {name: now[name] - before[name] for name in expected} == expected and now["in_flight"] == 0

    after = await eventually(lambda: figures(api, start), settled, timeout_s=60, interval_s=0.5)
    for row in after["rows"]:
        assert row["acknowledged"] == (row["counted"] + row["duplicates"] + row["dead_lettered"] + row["lost"]
                                       + row["in_flight"]), row

    table = meterflow(settings, "reconcile", "--mode", "test", "--from", format_timestamp(start))
    assert table.returncode == 0, table.stderr
    assert format_timestamp(start) in table.stdout and "in_flight" in table.stdout


async def test_the_window_takes_whole_hours_only(api: httpx.AsyncClient) -> None:
    half_past = format_timestamp(hour_of(datetime.now(UTC)) + timedelta(minutes=30))
    response = await api.get("/v1/reconciliation", params={"from": half_past})
    assert response.status_code == 400 and response.json()["param"] == "from", response.text
    default = await api.get("/v1/reconciliation")
    assert default.status_code == 200 and default.json()["count"] == 24
    assert default.json()["hours"][-1]["hour"] == format_timestamp(hour_of(datetime.now(UTC)))
    schema = (await api.get("/openapi.json")).json()
    answer = schema["paths"]["/v1/reconciliation"]["get"]["responses"]["200"]["content"]["application/json"]
    assert answer["schema"]["$ref"].endswith("/Reconciliation")
    assert {p["name"] for p in schema["paths"]["/v1/reconciliation"]["get"]["parameters"]} == {"from", "to"}

"""All six aggregations through the whole pipeline (HTTP → Kafka → processor → Redis → usage API), exact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.e2e.scenario import created, ingest, rollup_of
from tests.support import eventually, unique

HOUR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


async def metric(api: httpx.AsyncClient, event_name: str, aggregation: str, prop: str | None) -> str:
    body = {"name": aggregation, "event_name": event_name, "aggregation": aggregation,
            **({"aggregation_property": prop} if prop else {})}
    return str((await created(await api.post("/v1/metrics", json=body)))["id"])


async def usage(api: httpx.AsyncClient, customer: str, metric_id: str, start: datetime,
                end: datetime) -> dict[str, Any]:
    response = await api.get("/v1/usage", params={"customer_id": customer, "metric_id": metric_id,
                                                  "from": start.isoformat(), "to": end.isoformat()})
    return rollup_of(response)


async def test_six_aggregations_over_several_windows_are_exact(api: httpx.AsyncClient) -> None:
    event_name = unique("tokens")
    customer = (await created(await api.post("/v1/customers", json={"external_id": unique("c"), "name": "n"})))["id"]
    metrics = {a: await metric(api, event_name, a, None if a == "count" else "n")
               for a in ("count", "sum", "max", "minimum", "average", "unique")}
    values: list[Any] = ["0.1", 0.2, "12.5", 3, "3", "not a number", None, 0.2]
    events = []
    for i, value in enumerate(values):
        properties = {} if value is None else {"n": value}
        at = HOUR - timedelta(hours=6) + timedelta(minutes=40 * i)  # spread over six hourly windows, all past
        events.append({"event_name": event_name, "customer_id": customer, "idempotency_key": unique("k"),
                       "timestamp": at.isoformat(), "properties": properties})
    answer = await ingest(api, events)
    assert answer["rejected"] == [] and len(answer["ingested"]) == len(values)
    start, end = HOUR - timedelta(hours=7), HOUR + timedelta(hours=1)
    await eventually(lambda: usage(api, customer, metrics["count"], start, end), lambda u: u["value_exact"] == "8")

    # Numeric: 0.1 + 0.2 + 12.5 + 3 + 3 + 0.2 = 19.0 over 6 valued events; 2 unbillable.
    figures = {a: await usage(api, customer, m, start, end) for a, m in metrics.items()}
    assert {a: f["value_exact"] for a, f in figures.items()} == {
        "count": "8", "sum": "19.0", "max": "12.5", "minimum": "0.1", "average": "3.166667",
        # unique by JSON text: "0.1", 0.2, "12.5", 3, "3", "not a number" → 6 (0.2 twice; 3 and "3" differ)
        "unique": "6"}
    assert figures["sum"]["unbillable_count"] == 2
    assert figures["unique"]["unbillable_count"] == 1  # only the event without the property

    # A narrower window: only the events at HOUR-6h00 and HOUR-5h20 (the first hour).
    first = (HOUR - timedelta(hours=6), HOUR - timedelta(hours=5))
    first_hour = {a: (await usage(api, customer, m, *first))["value_exact"] for a, m in metrics.items()}
    assert first_hour == {"count": "2", "sum": "0.3", "max": "0.2", "minimum": "0.1", "average": "0.150000",
                          "unique": "2"}


async def test_usage_window_must_be_whole_hours(api: httpx.AsyncClient) -> None:
    customer = (await created(await api.post("/v1/customers", json={"external_id": unique("c"), "name": "n"})))["id"]
    metric_id = await metric(api, unique("e"), "count", None)
    response = await api.get("/v1/usage", params={"customer_id": customer, "metric_id": metric_id,
                                                  "from": (HOUR + timedelta(minutes=5)).isoformat(),
                                                  "to": (HOUR + timedelta(hours=1)).isoformat()})
    assert response.status_code == 400
    assert response.json()["param"] == "from" and "from" in response.json()["details"]

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


async def test_a_window_bounded_mid_hour_counts_exactly_its_seconds_for_every_aggregation(
        api: httpx.AsyncClient) -> None:
    """docs/billing.md, "Aggregations": a period starting at 13:37:12 counts no event of 13:20, and one ending at 15:20
    counts no event of 15:20 or 15:40, though the hourly rollups hold them in the same hours."""
    event_name = unique("tokens")
    customer = (await created(await api.post("/v1/customers", json={"external_id": unique("c"), "name": "n"})))["id"]
    metrics = {a: await metric(api, event_name, a, None if a == "count" else "n")
               for a in ("count", "sum", "max", "minimum", "average", "unique")}
    start = HOUR - timedelta(hours=3) + timedelta(minutes=37, seconds=12)
    end = HOUR - timedelta(hours=1) + timedelta(minutes=20)
    timed: list[tuple[datetime, Any]] = [
        (start - timedelta(minutes=27), 100), (start, "7"), (start + timedelta(minutes=13), 1),
        (HOUR - timedelta(minutes=90), 5), (HOUR - timedelta(minutes=75), 1), (end - timedelta(minutes=10), 2),
        (end, 50), (end + timedelta(minutes=20), -9)]
    answer = await ingest(api, [{"event_name": event_name, "customer_id": customer, "idempotency_key": unique("k"),
                                 "timestamp": at.isoformat(), "properties": {"n": n}} for at, n in timed])
    assert answer["rejected"] == []
    everything = (HOUR - timedelta(hours=4), HOUR)
    await eventually(lambda: usage(api, customer, metrics["count"], *everything), lambda u: u["value_exact"] == "8")
    await eventually(lambda: usage(api, customer, metrics["count"], start, end), lambda u: u["value_exact"] == "5")
    figures = {a: (await usage(api, customer, m, start, end))["value_exact"] for a, m in metrics.items()}
    # Inside: "7", 1, 5, 1, 2 → unique by JSON text: "7", 1, 5, 2.
    assert figures == {"count": "5", "sum": "16", "max": "7", "minimum": "1", "average": "3.200000", "unique": "4"}
    within_one_hour = {a: (await usage(api, customer, m, start, start + timedelta(minutes=20)))["value_exact"]
                       for a, m in metrics.items()}
    assert within_one_hour == {"count": "2", "sum": "8", "max": "7", "minimum": "1", "average": "4.000000",
                               "unique": "2"}

"""Bad input gets a clear error naming the event and the field, and nothing valid is lost with it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import httpx

from tests.e2e.scenario import billing_setup, event, ingest, usage, usage_reaches


async def test_more_than_1000_events_accepts_nothing(api: httpx.AsyncClient) -> None:
    setup = await billing_setup(api)
    response = await api.post("/v1/ingest", json={"events": [event(setup) for _ in range(1001)]})
    assert response.status_code in (400, 413)
    assert response.json()["type"] == "invalid_request_error"
    assert response.json()["param"] == "events" and "events" in response.json()["details"]
    await ingest(api, [event(setup)])  # a marker behind it on the same partition
    await usage_reaches(api, setup, "1")
    assert (await usage(api, setup))["event_count"] == 1


async def test_malformed_json_is_400_with_the_error_object(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/ingest", content=b'{"events": [ {"event_name": ', headers={
        "content-type": "application/json"})
    assert response.status_code == 400
    error = response.json()
    assert error["type"] == "invalid_request_error"
    assert "JSON" in error["error"] and error["details"]
    assert "Traceback" not in response.text
    not_object = await api.post("/v1/customers", content=b"[1, 2]")
    assert not_object.status_code == 400
    assert not_object.json()["type"] == "invalid_request_error" and not_object.json()["details"]


async def test_each_bad_event_is_rejected_by_index_and_the_valid_ones_are_accepted(api: httpx.AsyncClient) -> None:
    setup = await billing_setup(api)
    now = datetime.now(UTC)
    good = [event(setup), event(setup)]
    missing_key = event(setup)
    del missing_key["idempotency_key"]
    batch = [
        good[0],
        missing_key,
        event(setup, timestamp=(now + timedelta(minutes=6)).isoformat()),
        event(setup, timestamp=(now - timedelta(days=8)).isoformat()),
        {**event(setup), "customer_id": "cus_does_not_exist"},
        {**event(setup), "event_name": ""},
        good[1],
    ]
    answer = await ingest(api, batch)

    assert answer["ingested"] == [e["idempotency_key"] for e in good]
    rejected = {r["index"]: r for r in answer["rejected"]}
    assert sorted(rejected) == [1, 2, 3, 4, 5]
    assert "idempotency_key" in rejected[1]["error"]
    assert "future" in rejected[2]["error"]
    assert "dedupe window" in rejected[3]["error"]
    assert "cus_does_not_exist" in rejected[4]["error"]
    assert "event_name" in rejected[5]["error"]
    assert rejected[4]["idempotency_key"] == batch[4]["idempotency_key"]
    assert all(r["error"].startswith(f"events[{i}]") for i, r in rejected.items())
    await usage_reaches(api, setup, "2")


async def test_an_explicit_timestamp_with_offset_is_accepted(api: httpx.AsyncClient) -> None:
    setup = await billing_setup(api)
    at = datetime.now(UTC).astimezone(timezone(timedelta(hours=1)))
    answer = await ingest(api, [event(setup, timestamp=at.isoformat())])
    assert len(answer["ingested"]) == 1
    await usage_reaches(api, setup, "1")


async def test_monigo_null_properties_and_zero_time_are_counted_at_receipt(api: httpx.AsyncClient) -> None:
    """Monigo's Go client sends `"properties": null` and the zero time when the caller sets neither."""
    setup = await billing_setup(api)
    sent = [event(setup, properties=None, timestamp="0001-01-01T00:00:00Z"), event(setup, timestamp=None)]
    answer = await ingest(api, sent)
    assert answer == {"ingested": [e["idempotency_key"] for e in sent], "duplicates": [], "rejected": []}
    await usage_reaches(api, setup, "2")


async def test_a_batch_of_only_bad_events_is_a_400_naming_each(api: httpx.AsyncClient) -> None:
    setup = await billing_setup(api)
    response = await api.post("/v1/ingest", json={"events": [
        {**event(setup), "event_name": ""}, {**event(setup), "customer_id": "cus_nobody"}, "not an event"]})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["type"] == "invalid_request_error" and isinstance(body["error"], str)
    assert list(body["details"]) == ["events[0].event_name", "events[1].customer_id", "events[2]"]
    assert "cus_nobody" in body["details"]["events[1].customer_id"]


async def test_a_retry_right_after_a_202_reports_every_key_as_duplicate(api: httpx.AsyncClient) -> None:
    """The gateway remembers what the broker acknowledged, before the processor has counted anything."""
    setup = await billing_setup(api)
    batch = [event(setup), event(setup)]
    keys = [e["idempotency_key"] for e in batch]
    first, again = await ingest(api, batch), await ingest(api, batch)
    assert (first["ingested"], first["duplicates"]) == (keys, [])
    assert (again["ingested"], again["duplicates"]) == ([], keys)
    await ingest(api, [event(setup)])
    await usage_reaches(api, setup, "3")

"""One event validation for both ingest paths: fields, sizes, and the acceptance window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from meterflow.domain.events import (
    AcceptancePolicy,
    EventRejected,
    decode_json,
    event_to_json,
    numeric_property,
    parse_event,
)

NOW = datetime(2026, 2, 25, 10, tzinfo=UTC)
POLICY = AcceptancePolicy(window=timedelta(days=7), future_tolerance=timedelta(minutes=5))


def raw(**fields: object) -> dict[str, object]:
    return {"event_name": "api_call", "customer_id": "cus_1", "idempotency_key": "k1", **fields}


def test_missing_timestamp_means_received_at() -> None:
    assert parse_event(raw(), NOW, POLICY).timestamp == NOW


@pytest.mark.parametrize(("fields", "param"), [
    ({"idempotency_key": None}, "idempotency_key"),
    ({"idempotency_key": ""}, "idempotency_key"),
    ({"idempotency_key": "k" * 256}, "idempotency_key"),
    ({"event_name": ""}, "event_name"),
    ({"event_name": "e" * 129}, "event_name"),
    ({"timestamp": "2026-02-25T10:00:00"}, "timestamp"),
    ({"timestamp": (NOW + timedelta(minutes=5, seconds=1)).isoformat()}, "timestamp"),
    ({"timestamp": (NOW - timedelta(days=7, seconds=1)).isoformat()}, "timestamp"),
    ({"properties": {"blob": "x" * 9000}}, "properties"),
    ({"properties": [1]}, "properties"),
])
def test_each_fault_names_its_field(fields: dict[str, object], param: str) -> None:
    with pytest.raises(EventRejected) as caught:
        parse_event(raw(**fields), NOW, POLICY)
    assert caught.value.param == param


def test_window_edges_are_accepted() -> None:
    for at in (NOW + timedelta(minutes=5), NOW - timedelta(days=7)):
        assert parse_event(raw(timestamp=at.isoformat()), NOW, POLICY).timestamp == at


def test_numbers_keep_their_exact_text_through_kafka_json() -> None:
    event = parse_event(decode_json(b'{"event_name":"e","customer_id":"c","idempotency_key":"k",'
                                    b'"properties":{"gb":0.10000000000000001,"n":"12.5"}}'), NOW, POLICY)
    again = parse_event(decode_json(event_to_json(event)), NOW, POLICY)
    assert numeric_property(again, "gb") == Decimal("0.10000000000000001")
    assert numeric_property(again, "n") == Decimal("12.5")
    assert b'"gb":0.10000000000000001' in event_to_json(event)

"""The HTTP ingest use case with in-memory ports: no Postgres, Redis or Kafka.

What must hold: an event is `ingested` only once the publisher made it durable, and remembered as
acknowledged only after that; refused events name their field; the unknown-customer rule is the
processor's own; duplicates (in the batch, or already known) are answered, never published.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from meterflow.application.ingest import IngestBatch
from meterflow.domain.errors import FieldErrors, Unavailable
from meterflow.domain.events import AcceptancePolicy
from meterflow.domain.modes import Mode
from tests.fakes.ingest import Acknowledgements, Directory, Precheck, Publisher

NOW = datetime(2026, 3, 1, 10, 30, tzinfo=UTC)


def body(key: str, customer: str = "cus_1") -> dict[str, object]:
    return {"event_name": "tokens", "customer_id": customer, "idempotency_key": key,
            "timestamp": "2026-03-01T10:00:00Z", "properties": {"n": 1}}


def ingest(precheck: Precheck | None = None, publisher: Publisher | None = None,
           acknowledgements: Acknowledgements | None = None) -> IngestBatch:
    return IngestBatch(Directory({Mode.TEST: {"cus_1"}, Mode.LIVE: {"cus_live"}}), precheck or Precheck(),
                       publisher or Publisher(), acknowledgements or Acknowledgements(),
                       AcceptancePolicy(timedelta(days=7), timedelta(minutes=5)))


async def test_valid_events_are_published_then_remembered_and_the_rest_answered_per_event() -> None:
    precheck, publisher, acknowledgements = Precheck(known={(Mode.TEST, "seen")}), Publisher(), Acknowledgements()
    result = await ingest(precheck, publisher, acknowledgements)(
        Mode.TEST, [body("a"), body("a"), body("seen"), body("b", "cus_live"), {"customer_id": "cus_1"}, body("c")],
        NOW)
    assert result.ingested == ["a", "c"]
    assert publisher.published == [(Mode.TEST, "a"), (Mode.TEST, "c")]
    assert precheck.remembered == [(Mode.TEST, "a"), (Mode.TEST, "c")]
    assert acknowledgements.told == [(Mode.TEST, NOW, 2)]  # the accounting's acknowledged figure
    assert sorted(result.duplicates) == ["a", "seen"]
    errors = {r["index"]: r["error"] for r in result.rejected}
    assert list(sorted(errors)) == [3, 4]
    assert errors[3] == "events[3].customer_id: no customer 'cus_live' in test mode"
    assert sorted(result.reasons) == ["customer_id", "event_name"]


async def test_nothing_is_remembered_when_the_publisher_cannot_make_the_batch_durable() -> None:
    """A key remembered for an event that is not durable would answer the retry `duplicate` and lose it."""
    precheck, acknowledgements = Precheck(), Acknowledgements()
    with pytest.raises(Unavailable):
        await ingest(precheck, Publisher(away=True), acknowledgements)(Mode.TEST, [body("a")], NOW)
    assert precheck.remembered == [] and acknowledgements.told == []


async def test_a_batch_whose_every_event_is_refused_is_a_400_naming_each() -> None:
    publisher = Publisher()
    with pytest.raises(FieldErrors) as refused:
        await ingest(publisher=publisher)(Mode.TEST, [body("a", "cus_nobody"), {"event_name": "x"}], NOW)
    assert list(refused.value.details) == ["events[0].customer_id", "events[1].customer_id"]
    assert publisher.published == []


async def test_a_batch_of_known_duplicates_publishes_nothing() -> None:
    publisher = Publisher()
    result = await ingest(Precheck(known={(Mode.LIVE, "x")}), publisher)(Mode.LIVE, [body("x", "cus_live")], NOW)
    assert result.duplicates == ["x"] and result.ingested == [] and publisher.published == []

"""The workload both the fault tests and the bench send: realistic ~250-byte usage events for a set of
customers, with 10% duplicates, and the customers and metrics they name.

Customers and metrics are written straight into Postgres, in bulk: creating thousands through the API
would test (or measure) the catalog endpoints, not what the caller is about.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType

import orjson

from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.postgres import Pool
from meterflow.domain.catalog import Metric
from meterflow.domain.events import encode_json_fast, format_timestamp
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.modes import Mode
from meterflow.domain.rollups import Aggregation

EVENT_NAME = "api_request"
UNITS = "units"
# What an API-metering customer sends besides the units: makes an event about 250 bytes, as in production.
REQUEST_DETAIL: Mapping[str, object] = {"region": "eu-west-1", "endpoint": "/v1/orders/search", "status": 200}


@dataclass(frozen=True)
class Books:
    """Customers, and a count and a sum metric that both read every event of `event_name`."""

    mode: Mode
    event_name: str
    customers: list[str]
    count_metric: str
    sum_metric: str


async def add_customers(pool: Pool, n: int, mode: Mode = Mode.TEST) -> list[str]:
    ids = [new_id(IdKind.CUSTOMER) for _ in range(n)]
    await pool.executemany(
        "INSERT INTO customers (id, mode, external_id, name) VALUES ($1, $2, $3, 'kit')",
        [(i, mode.value, f"ext_{i}") for i in ids])
    return ids


async def open_books(pool: Pool, *, customers: int = 8, mode: Mode = Mode.TEST,
                     event_name: str | None = None) -> Books:
    """Fresh customers and two metrics on `event_name` (by default one of these books only). Metrics of
    earlier books on the same event name are moved off it first, so each event folds into exactly the two
    metrics of these books whatever ran before (a bench run otherwise counted every event into 4, 6 … 12
    metrics by its last figure)."""
    event_name = event_name or f"{EVENT_NAME}-{uuid.uuid4().hex[:12]}"
    catalog, now = CatalogRepository(pool), datetime.now(UTC)
    await pool.execute("UPDATE metrics SET event_name = 'retired:' || id WHERE event_name = $1 AND mode = $2",
                       event_name, mode.value)
    metrics = {}
    for aggregation, prop in ((Aggregation.COUNT, None), (Aggregation.SUM, UNITS)):
        metric = Metric(new_id(IdKind.METRIC), mode, f"kit {aggregation}", event_name, aggregation, prop, None,
                        now)
        await catalog.add_metric(metric)
        metrics[aggregation] = metric.id
    return Books(mode, event_name, await add_customers(pool, customers, mode), metrics[Aggregation.COUNT],
                 metrics[Aggregation.SUM])


def units_of(i: int) -> str:
    return f"{i % 7}.25"


def expected_units(n: int) -> Decimal:
    return sum((Decimal(units_of(i)) for i in range(n)), Decimal(0))


def event(customer_id: str, idempotency_key: str, i: int, at: datetime | None = None,
          event_name: str = EVENT_NAME, detail: Mapping[str, object] = REQUEST_DETAIL) -> dict[str, object]:
    """The i-th event: its units, and by default the request detail that makes it about 250 bytes."""
    body: dict[str, object] = {
        "event_name": event_name, "customer_id": customer_id, "idempotency_key": idempotency_key,
        "properties": {UNITS: units_of(i), **detail}}
    if at is not None:
        body["timestamp"] = format_timestamp(at)
    return body


def encoded(value: object) -> bytes:
    return orjson.dumps(value)


def unique_key() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Expected:
    events: int
    units: Decimal
    # The counted set: idempotency key → (customer, properties) of the first event of that key.
    bodies: dict[str, tuple[str, object]] = field(default_factory=dict)


def workload(books: Books, originals: int, at: datetime | None = None,
             detail: Mapping[str, object] = MappingProxyType({})) -> tuple[list[dict[str, object]], Expected]:
    """`originals` distinct events and, after every ninth, a duplicate of an earlier one (same key and
    customer, so same partition and later offset; every other one with another body): 10% duplicates.
    The first event of a key is the one that counts. Lean events by default (units only: a fault test's
    load is its count of events); the bench passes REQUEST_DETAIL to measure production-sized ones."""
    def original(i: int) -> dict[str, object]:
        return event(books.customers[i % len(books.customers)], f"{books.count_metric}-{i}", i, at,
                     books.event_name, detail)

    firsts = [original(i) for i in range(originals)]
    events: list[dict[str, object]] = []
    for i, first in enumerate(firsts):
        events.append(first)
        if i % 9 == 8:
            earlier = firsts[max(0, i - (i * 31) % 500)]
            events.append(earlier if i % 2 else {**earlier, "properties": {UNITS: "1000"}})
    bodies = {str(e["idempotency_key"]): (str(e["customer_id"]), e["properties"]) for e in firsts}
    return events, Expected(originals, expected_units(originals), bodies)


def keyed(events: list[dict[str, object]]) -> list[tuple[bytes, bytes]]:
    """Kafka records as a producer writes events: keyed by customer, so a customer's events keep their order.
    Encoded as the gateway encodes, so a Decimal stays an exact JSON number and a poison (a lone surrogate,
    a number past any float) reaches the broker as the test wrote it."""
    return [(str(e["customer_id"]).encode(), encode_json_fast(e)) for e in events]

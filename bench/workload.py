"""What the bench sends: realistic ~250-byte usage events, and the customers and metrics they name.

Customers and metrics are written straight into Postgres (as tests/faults/conftest.py does), in bulk:
creating 10,000 through the API would measure the catalog endpoints, not what a figure is about.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import orjson

from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.postgres import Pool
from meterflow.domain.catalog import Metric
from meterflow.domain.events import format_timestamp
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.modes import Mode
from meterflow.domain.rollups import Aggregation

EVENT_NAME = "api_request"
UNITS = "units"


@dataclass(frozen=True)
class Books:
    """Customers, and a count and a sum metric that both read every event."""

    mode: Mode
    customers: list[str]
    count_metric: str
    sum_metric: str


async def add_customers(pool: Pool, n: int, mode: Mode = Mode.TEST) -> list[str]:
    ids = [new_id(IdKind.CUSTOMER) for _ in range(n)]
    await pool.executemany(
        "INSERT INTO customers (id, mode, external_id, name) VALUES ($1, $2, $3, 'bench')",
        [(i, mode.value, f"ext_{i}") for i in ids])
    return ids


async def open_books(pool: Pool, customers: int, mode: Mode = Mode.TEST) -> Books:
    """Fresh customers and two metrics on EVENT_NAME. The metrics of earlier books are moved off the
    event name first, so every measurement folds each event into exactly its own two metrics whatever
    ran before it (otherwise the figures later in a run counted every event into 4, 6 … 12 metrics)."""
    catalog, now = CatalogRepository(pool), datetime.now(UTC)
    await pool.execute("UPDATE metrics SET event_name = 'retired-bench:' || id WHERE event_name = $1 AND mode = $2",
                       EVENT_NAME, mode.value)
    metrics = {}
    for aggregation, prop in ((Aggregation.COUNT, None), (Aggregation.SUM, UNITS)):
        metric = Metric(new_id(IdKind.METRIC), mode, f"bench {aggregation}", EVENT_NAME, aggregation, prop,
                        None, now)
        await catalog.add_metric(metric)
        metrics[aggregation] = metric.id
    return Books(mode, await add_customers(pool, customers, mode), metrics[Aggregation.COUNT],
                 metrics[Aggregation.SUM])


def units_of(i: int) -> str:
    return f"{i % 7}.25"


def event(customer_id: str, idempotency_key: str, i: int, at: datetime | None = None) -> dict[str, object]:
    """About 250 bytes of JSON: what an API-metering customer typically sends per request."""
    body: dict[str, object] = {
        "event_name": EVENT_NAME, "customer_id": customer_id, "idempotency_key": idempotency_key,
        "properties": {UNITS: units_of(i), "region": "eu-west-1", "endpoint": "/v1/orders/search",
                       "status": 200}}
    if at is not None:
        body["timestamp"] = format_timestamp(at)
    return body


def encoded(value: object) -> bytes:
    return orjson.dumps(value)


def unique_key() -> str:
    return str(uuid.uuid4())


def expected_units(n: int) -> Decimal:
    return sum((Decimal(units_of(i)) for i in range(n)), Decimal(0))

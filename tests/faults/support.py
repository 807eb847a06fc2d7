"""What the fault tests check after a fault: every record processed and the figures exact, the events on
record the counted set, and the accounting balanced. The workload itself is the kit's (testkit), shared
with the bench."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx

from meterflow.adapters.accounting_store import AccountingStore
from meterflow.adapters.kafka import last_offsets, unprocessed
from meterflow.adapters.postgres import Pool
from meterflow.adapters.redis_client import RedisClient
from meterflow.adapters.usage_store import UsageStore
from meterflow.domain.accounting import HOUR, HourFigures, figures_of, hour_of
from meterflow.domain.modes import Mode
from meterflow.settings import Settings
from services.wiring import kafka_setup
from testkit.figures import counted
from testkit.polling import eventually
from testkit.workload import Books, Expected
from tests.e2e.scenario import Setup, rollup_of, usage_response


async def wait_for_exact(store: UsageStore, books: Books, expected: Expected, settings: Settings,
                         timeout_s: float = 180, mode: Mode | None = None) -> None:
    """Wait until every record is committed, then the figures must be exact: not one event short
    (lost) and not one over (counted twice). Call it only once every record has been written."""
    ends = await last_offsets(kafka_setup(settings))
    await eventually(lambda: unprocessed(kafka_setup(settings), ends), lambda left: not left, timeout_s, interval_s=0.5)
    assert await counted(store, books, mode) == (expected.events, expected.units)


async def assert_on_record(pool: Pool, books: Books, expected: Expected, mode: Mode | None = None) -> None:
    """The events on record are the counted set, key for key and body for body (docs/billing.md, "Events on
    record"): no duplicate's body, no dead letter, nothing missing. Call it after `wait_for_exact`."""
    rows = await pool.fetch(
        "SELECT idempotency_key, customer_id, properties, topic, kafka_offset FROM events_on_record "
        "WHERE mode = $1 AND customer_id = ANY($2::text[])", (mode or books.mode).value, books.customers)
    keys = [r["idempotency_key"] for r in rows]
    assert len(keys) == len(set(keys)), "an event is on record twice"
    assert {r["idempotency_key"]: (r["customer_id"], r["properties"]) for r in rows} == expected.bodies


@dataclass(frozen=True)
class Accounted:
    """The accounting figures (docs/accounting.md) of one mode summed over the hours from `start` to the end
    of the next one (a fault test may cross an hour). Fault tests share the session's Redis, mode and hours
    with the other tests, so they compare what changed (`since`)."""

    mode: Mode
    start: datetime
    acknowledged: int
    counted: int
    duplicates: int
    dead_lettered: int
    in_flight: int
    balanced: bool  # every hour: acknowledged = counted + duplicates + dead_lettered + lost + in_flight

    @classmethod
    async def read(cls, redis: RedisClient, mode: Mode, start: datetime | None = None) -> Accounted:
        start = start or hour_of(datetime.now(UTC))
        hours = [start, start + HOUR]
        rows = [figures_of(h, t) for h, t in zip(hours, await AccountingStore(redis, timedelta(days=1)).tallies(
            mode, hours), strict=True)]
        return cls(mode, start, sum(r.acknowledged for r in rows), sum(r.counted for r in rows),
                   sum(r.duplicates for r in rows), sum(r.dead_lettered for r in rows),
                   sum(r.in_flight for r in rows), all(map(_balanced, rows)))

    def since(self, earlier: Accounted) -> tuple[int, int, int, int, int]:
        return (self.acknowledged - earlier.acknowledged, self.counted - earlier.counted,
                self.duplicates - earlier.duplicates, self.dead_lettered - earlier.dead_lettered,
                self.in_flight - earlier.in_flight)


def _balanced(row: HourFigures) -> bool:
    return row.acknowledged == row.counted + row.duplicates + row.dead_lettered + row.lost + row.in_flight


async def in_flight(api: httpx.AsyncClient) -> int:
    """Events acknowledged and neither counted, duplicate, dead-lettered nor lost yet, over every hour."""
    return sum(row["in_flight"] for row in (await api.get("/v1/reconciliation")).json()["hours"])


async def usage_of(api: httpx.AsyncClient, setup: Setup) -> int:
    """The counted events so far, or -1 while the gateway does not answer (in time: the machine is busy
    catching up after the restart; at all: a gateway killed at the end of the load is still starting) or
    answers 503 (a server killed then is still coming back: a dependency away is a 503 by design); the
    deadline is the caller's."""
    try:
        response = await usage_response(api, setup)
    except httpx.TransportError:
        return -1
    return -1 if response.status_code == 503 else int(Decimal(rollup_of(response)["value"]))

"""Usage whose edge hour holds many events, over HTTP on the real stack (docs/usage-edges.md): a call
that would wait past the gateway's bound is answered 503 with Retry-After (never a hang or a 500) and
the retry gets the exact figure; a client that goes away stops the recount it started."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from meterflow.adapters.event_record_repository import EventRecordRepository, partition_name
from meterflow.adapters.postgres import Pool
from meterflow.domain.event_record import month_start
from meterflow.domain.periods import align_to_hour
from meterflow.settings import Settings
from services.devstack.embedded import free_port
from tests.e2e.scenario import Setup, billing_setup, rollup_of
from tests.support import ServiceProcess, eventually

# A past hour; the events fill its last 50 minutes, and a window from 37:12 reads part of them.
HOUR = align_to_hour(datetime.now(UTC)) - timedelta(days=2)
START = HOUR + timedelta(minutes=37, seconds=12)


async def on_record(pool: Pool, setup: Setup, events: int) -> tuple[int, Decimal]:
    """`events` events written straight on record in [HOUR+10m, HOUR+60m) (as if counted long ago),
    and what the window from START counts of them, by SQL: count and sum."""
    await EventRecordRepository(pool).ensure_partitions({month_start(HOUR)})
    await pool.execute(
        "INSERT INTO events_on_record (mode, idempotency_key, customer_id, event_name, timestamp, properties, "
        "received_at, topic, kafka_partition, kafka_offset) "
        "SELECT 'test', $1 || i, $2, $3, $4::timestamptz + make_interval(secs => (i % 3000) + 600), "
        "json_build_object('n', (i % 7)::text || '.25'), $4, 'e2e', 0, i FROM generate_series(1, $5) AS i",
        setup.subscription_id, setup.customer_id, setup.event_name, HOUR, events)
    row = await pool.fetchrow("SELECT count(*) AS n, sum((properties->>'n')::numeric) AS total FROM events_on_record "
                              "WHERE mode = 'test' AND customer_id = $1 AND timestamp >= $2", setup.customer_id, START)
    assert row is not None
    return row["n"], row["total"]


def window(setup: Setup) -> dict[str, str]:
    return {"customer_id": setup.customer_id, "metric_id": setup.metric_id, "from": START.isoformat(),
            "to": (HOUR + timedelta(hours=3)).isoformat()}


async def recounts(client: httpx.AsyncClient, outcome: str) -> float:
    text = (await client.get("/metrics")).text
    found = re.search(rf'^meterflow_usage_recounts_total{{outcome="{outcome}"}} (\S+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def test_past_its_wait_a_call_is_answered_503_and_the_retry_gets_the_exact_figure(
        api: httpx.AsyncClient, pool: Pool, settings: Settings, test_key: str) -> None:
    setup = await billing_setup(api, aggregation="sum", prop="n")
    count, total = await on_record(pool, setup, 5_000)
    port = free_port()
    with ServiceProcess.running("gateway", settings, api_port=port, usage_recount_wait_s=0):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60,
                                     headers={"Authorization": f"Bearer {test_key}"}) as client:
            refused = await client.get("/v1/usage", params=window(setup))
            assert refused.status_code == 503, refused.text
            assert refused.headers["Retry-After"] == "1" and "recounted" in refused.json()["error"]
            # The recount went on for the retry, and kept its figure: the retry reads it.
            answer = await eventually(lambda: client.get("/v1/usage", params=window(setup)),
                                      lambda r: r.status_code == 200, timeout_s=120, interval_s=0.5)
            figure = rollup_of(answer)
            assert (figure["event_count"], Decimal(figure["value_exact"])) == (count, total)
            assert await recounts(client, "deferred") >= 1 and await recounts(client, "folded") >= 1


async def test_a_client_that_goes_away_stops_the_recount_it_started(
        api: httpx.AsyncClient, pool: Pool, settings: Settings, test_key: str) -> None:
    setup = await billing_setup(api, aggregation="sum", prop="n")
    await on_record(pool, setup, 5_000)
    port = free_port()
    with ServiceProcess.running("gateway", settings, api_port=port, usage_recount_wait_s=600) as gateway:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}",
                                     headers={"Authorization": f"Bearer {test_key}"}) as client, \
                pool.acquire() as holder, holder.transaction():
            # The hour's partition held by another transaction: the fold waits on it as on a slow read.
            await holder.execute(f"LOCK TABLE {partition_name(month_start(HOUR))} IN ACCESS EXCLUSIVE MODE")
            with pytest.raises(httpx.ReadTimeout):  # the client gives up and closes its connection
                await client.get("/v1/usage", params=window(setup), timeout=1.0)
            cancelled = await eventually(lambda: recounts(client, "cancelled"), lambda n: n >= 1, timeout_s=30)
            assert cancelled == 1 and await recounts(client, "folded") == 0
        assert "client disconnected before its answer; its work was stopped" in gateway.log()
        assert "Traceback" not in gateway.log()

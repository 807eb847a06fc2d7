"""The gateway's spool on `meterflow run` (embedded broker, topics in memory only): an acknowledged event
is counted exactly once whatever the broker, the processor or the gateway does (docs/spool.md).

The tests share one `meterflow run` of this module only (killing its broker or gateway disturbs no other
module), and each starts once the run has healed from the one before: every service ready, the broker
reachable, the spool empty. The full-spool test runs its own, with a 1 MiB budget. Loads are kept modest
(a few hundred to two thousand events a second, outages of about 12 s) to fit the suite's time budget; the
guarantees do not depend on the rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.e2e.scenario import Setup, billing_setup, event
from tests.e2e.test_observability import metric_value
from tests.faults.support import in_flight, usage_of
from tests.meterflow_run import MeterflowRun, child_running, restarted_since, started
from tests.support import eventually


@pytest.fixture(scope="module")
async def shared() -> AsyncIterator[tuple[MeterflowRun, httpx.AsyncClient]]:
    """The module's run and a client with a test-mode key. A 202 waits at most 1 s for the broker besides
    the disk, so a test that stops the broker is answered from the spool sooner."""
    run = MeterflowRun(settings={"SPOOL_FORWARD_WAIT_S": "1"})
    try:
        async with started(run) as api:
            yield run, api
    finally:
        run.end()


@pytest.fixture
async def run(shared: tuple[MeterflowRun, httpx.AsyncClient]) -> MeterflowRun:
    """The shared run, once it has healed from the test before (its services restarted and ready)."""
    run, _ = shared
    await eventually(lambda: _healed(run), bool, timeout_s=120, interval_s=0.5)
    return run


@pytest.fixture
def api(shared: tuple[MeterflowRun, httpx.AsyncClient], run: MeterflowRun) -> httpx.AsyncClient:
    return shared[1]


async def _healed(run: MeterflowRun) -> bool:
    async with httpx.AsyncClient(timeout=5) as client:
        try:
            gateway = await client.get(f"{run.api_url}/readyz")
            processor = await client.get(f"http://127.0.0.1:{run.ports['PROCESSOR_WEB_PORT']}/readyz")
        except httpx.HTTPError:
            return False
    answer = gateway.json()
    return (gateway.status_code == processor.status_code == 200 and answer["checks"]["kafka"] == "ok"
            and answer["spool"]["events"] == 0)


async def spooled(run: MeterflowRun) -> dict[str, Any]:
    """The gateway's spool figures from its /readyz."""
    async with httpx.AsyncClient(timeout=10) as client:
        spool: dict[str, Any] = (await client.get(f"{run.api_url}/readyz")).json()["spool"]
        return spool


async def counted_exactly(api: httpx.AsyncClient, run: MeterflowRun, setup: Setup, expected: int) -> None:
    """Every acknowledged event counted, the spool emptied (so nothing is left to be produced again),
    and still exactly `expected`: none lost, none twice; and the accounting says so, hour by hour (nothing
    in flight, nothing lost: each produced-again event was recognised, not counted as a duplicate)."""
    await eventually(lambda: usage_of(api, setup), lambda n: n >= expected, timeout_s=120, interval_s=1)
    await eventually(lambda: spooled(run), lambda s: s["events"] == 0, timeout_s=60, interval_s=1)
    assert await usage_of(api, setup) == expected
    await eventually(lambda: in_flight(api), lambda n: n == 0, timeout_s=60, interval_s=1)
    hours = (await api.get("/v1/reconciliation")).json()["hours"]
    assert sum(row["lost"] for row in hours) == 0, hours


def pid_of(run: MeterflowRun, *needle: str) -> int:
    assert run.process is not None
    pid = child_running(run.process.pid, *needle)
    assert pid is not None, needle
    return pid


@dataclass
class Load:
    """What a steady producer saw: the keys of every 202, and every status answered."""

    batch: int
    per_s: float
    acknowledged: set[str] = field(default_factory=set)
    statuses: Counter[int] = field(default_factory=Counter)
    stop: bool = False

    async def run(self, api: httpx.AsyncClient, setup: Setup) -> None:
        while not self.stop:
            tick = time.monotonic()
            response = await api.post("/v1/ingest", json={"events": [event(setup) for _ in range(self.batch)]},
                                      timeout=60)
            self.statuses[response.status_code] += 1
            if response.status_code == 202:
                self.acknowledged.update(response.json()["ingested"])
            await asyncio.sleep(max(0.0, 1 / self.per_s - (time.monotonic() - tick)))


async def test_a_full_spool_answers_503_with_retry_after_and_loses_nothing() -> None:
    """The broker frozen until the spool's 1 MiB budget is used up: 503 with Retry-After, never a lost or
    half-written batch; once the broker is back every acknowledged event counts."""
    run = MeterflowRun(settings={"SPOOL_MAX_BYTES": str(1 << 20), "SPOOL_SEGMENT_BYTES": str(1 << 16),
                                 "SPOOL_FORWARD_WAIT_S": "1"})
    load = Load(batch=200, per_s=20)
    broker = 0
    try:
        async with started(run) as api:
            setup = await billing_setup(api)
            broker = pid_of(run, "tansu")
            os.kill(broker, signal.SIGSTOP)
            sending = asyncio.create_task(load.run(api, setup))
            await eventually(lambda: asyncio.sleep(0, load.statuses[503]), lambda n: n >= 3, timeout_s=90)
            async with httpx.AsyncClient(timeout=10) as probe:
                refused = await probe.post(f"{run.api_url}/v1/ingest", headers=api.headers,
                                           json={"events": [event(setup) for _ in range(200)]})
                ready = await probe.get(f"{run.api_url}/readyz")
            assert refused.status_code == 503 and refused.headers.get("Retry-After"), refused.text
            assert ready.status_code == 503 and ready.json()["checks"]["spool"] != "ok"
            load.stop = True
            await sending
            os.kill(broker, signal.SIGCONT)
            assert set(load.statuses) <= {202, 503}
            await counted_exactly(api, run, setup, len(load.acknowledged))
    finally:
        if broker:
            with contextlib.suppress(ProcessLookupError):
                os.kill(broker, signal.SIGCONT)
        run.end()


async def test_acknowledged_events_the_broker_lost_before_they_were_counted_are_counted_once(
        run: MeterflowRun, api: httpx.AsyncClient) -> None:
    """The processor stopped (SIGSTOP) while 5,000 events are acknowledged; the broker killed -9 (its topics
    and offsets gone with it) and restarted. The supervisor replaces the stopped processor, which then
    counts what the spool produced again: 5,000, none twice."""
    try:
        setup = await billing_setup(api)
        before = await run.restarts("kafka", "processor")
        processor = pid_of(run, "python", "services", "processor")
        os.kill(processor, signal.SIGSTOP)
        for _ in range(50):
            answer = await api.post("/v1/ingest", json={"events": [event(setup) for _ in range(100)]})
            assert answer.status_code == 202, answer.text
        assert (await spooled(run))["events"] == 5_000
        os.kill(pid_of(run, "tansu"), signal.SIGKILL)
        await eventually(lambda: run.restarts("kafka", "processor"), restarted_since(before), timeout_s=90)
        await counted_exactly(api, run, setup, 5_000)
    finally:
        with contextlib.suppress(ProcessLookupError, AssertionError):
            os.kill(pid_of(run, "python", "services", "processor"), signal.SIGCONT)


async def test_a_broker_away_under_load_answers_202_or_503_and_every_202_counts(
        run: MeterflowRun, api: httpx.AsyncClient) -> None:
    """The broker frozen (SIGSTOP) for 12 s under 400 events/s, then killed -9 and restarted: ingest keeps
    answering from the spool, and every acknowledged event is counted exactly once."""
    load = Load(batch=40, per_s=10)
    broker = 0
    try:
        setup = await billing_setup(api)
        before = await run.restarts("kafka")
        sending = asyncio.create_task(load.run(api, setup))
        await eventually(lambda: asyncio.sleep(0, len(load.acknowledged)), lambda n: n >= 1_000, timeout_s=60)
        broker = pid_of(run, "tansu")
        os.kill(broker, signal.SIGSTOP)
        during = len(load.acknowledged)
        await asyncio.sleep(12)  # the outage itself: its length is the point, not a wait for a condition
        acknowledged_while_away = len(load.acknowledged) - during
        figures = await spooled(run)
        async with httpx.AsyncClient(timeout=10) as client:
            metrics = (await client.get(f"{run.api_url}/metrics")).text
        assert metric_value(metrics, "meterflow_spool_oldest_unforwarded_age_seconds") > 1
        assert metric_value(metrics, "meterflow_spool_events") >= acknowledged_while_away
        assert metric_value(metrics, "meterflow_spool_bytes") > 0
        os.kill(broker, signal.SIGKILL)
        os.kill(broker, signal.SIGCONT)
        await eventually(lambda: run.restarts("kafka"), restarted_since(before), timeout_s=60)
        await eventually(lambda: asyncio.sleep(0, len(load.acknowledged)), lambda n: n >= during + 3_000,
                         timeout_s=90)
        load.stop = True
        await sending
        print(f"\nbroker away 12 s at {load.batch * load.per_s:.0f} events/s: {acknowledged_while_away} "
              f"acknowledged "
              f"meanwhile from the spool ({figures['events']} events, {figures['bytes']} bytes, oldest "
              f"{figures['oldest_unforwarded_age_s']} s); statuses {dict(load.statuses)}")
        assert set(load.statuses) <= {202, 503}
        assert acknowledged_while_away > 0 and figures["oldest_unforwarded_age_s"] > 1
        await counted_exactly(api, run, setup, len(load.acknowledged))
    finally:
        load.stop = True
        if broker:
            with contextlib.suppress(ProcessLookupError):
                os.kill(broker, signal.SIGCONT)


async def test_a_gateway_killed_during_appends_loses_no_acknowledged_event_and_counts_none_twice(
        run: MeterflowRun, api: httpx.AsyncClient) -> None:
    """kill -9 of the gateway under load while a client retries each batch: the restarted gateway takes its
    spool back (torn tail cut), forwards what was left, and every key is counted once."""
    setup = await billing_setup(api)
    batches = [[event(setup) for _ in range(100)] for _ in range(60)]
    acknowledged: set[str] = set()

    async def send(batch: list[dict[str, Any]]) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                response = await api.post("/v1/ingest", json={"events": batch}, timeout=10)
                if response.status_code == 202:
                    body = response.json()
                    acknowledged.update(body["ingested"] + body["duplicates"])
                    return
            await asyncio.sleep(0.5)
        raise AssertionError("a batch was never acknowledged")

    async def client() -> None:
        for i in range(0, len(batches), 4):
            await asyncio.gather(*(send(b) for b in batches[i:i + 4]))

    sending = asyncio.create_task(client())
    await eventually(lambda: asyncio.sleep(0, len(acknowledged)), lambda n: n >= 1_500, timeout_s=60,
                     interval_s=0.01)
    os.kill(pid_of(run, "python", "services", "gateway"), signal.SIGKILL)
    await sending
    assert len(acknowledged) == 6_000
    await counted_exactly(api, run, setup, 6_000)


async def test_a_gateway_restarted_while_the_broker_is_away_takes_events_and_forwards_them_later(
        run: MeterflowRun, api: httpx.AsyncClient) -> None:
    """The broker frozen, the gateway killed -9 and restarted by the supervisor: it starts without Kafka,
    answers 202 from its spool (its readiness shows Kafka away but stays ready), and once the broker is
    back everything acknowledged, before and after the restart, counts once."""
    broker = 0
    try:
        setup = await billing_setup(api)
        broker = pid_of(run, "tansu")
        os.kill(broker, signal.SIGSTOP)
        restarts_before = await run.restarts("gateway")
        before = await api.post("/v1/ingest", json={"events": [event(setup) for _ in range(300)]}, timeout=30)
        assert before.status_code == 202, before.text
        os.kill(pid_of(run, "python", "services", "gateway"), signal.SIGKILL)
        await eventually(lambda: run.restarts("gateway"), restarted_since(restarts_before), timeout_s=60)

        async def ingest_once() -> int:
            with contextlib.suppress(httpx.HTTPError):
                answer = await api.post("/v1/ingest", json={"events": [event(setup) for _ in range(200)]},
                                        timeout=30)
                return answer.status_code
            return 0
        assert await eventually(ingest_once, lambda status: status == 202, timeout_s=90, interval_s=1) == 202
        ready = await eventually(lambda: _readiness(run), lambda r: r[0] == 200, timeout_s=30)
        assert ready[1]["checks"]["kafka"] != "ok" and ready[1]["spool"]["events"] >= 500
        os.kill(broker, signal.SIGCONT)
        await counted_exactly(api, run, setup, 500)
    finally:
        if broker:
            with contextlib.suppress(ProcessLookupError):
                os.kill(broker, signal.SIGCONT)


async def _readiness(run: MeterflowRun) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(f"{run.api_url}/readyz")
        return answer.status_code, answer.json()

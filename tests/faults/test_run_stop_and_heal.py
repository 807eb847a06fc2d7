"""`meterflow run` as a user runs it: Ctrl-C under load loses no acknowledged event, and a child that
dies is brought back."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from dataclasses import dataclass, field

import httpx

from tests.e2e.scenario import Setup, billing_setup, event, usage_reaches
from tests.faults.support import in_flight, usage_of
from tests.meterflow_run import MeterflowRun, child_running, started
from tests.support import eventually

BATCH = 100
BATCHES_PER_S = 20  # 2,000 events/s


@dataclass
class Load:
    """What a steady producer saw: keys acknowledged (202), and refusals while meterflow drained."""

    acknowledged: set[str] = field(default_factory=set)
    refused_with_retry_after: int = 0
    stop: bool = False  # set to end the load after the request in flight, whose answer is then known


async def steady_load(api: httpx.AsyncClient, setup: Setup, load: Load) -> None:
    """Batches at a steady rate until cancelled or stopped; a key counts as acknowledged only on a 202."""
    while not load.stop:
        tick = time.monotonic()
        with contextlib.suppress(httpx.HTTPError):
            response = await api.post("/v1/ingest", json={"events": [event(setup) for _ in range(BATCH)]})
            if response.status_code == 202:
                load.acknowledged.update(response.json()["ingested"])
            elif response.status_code == 503 and response.headers.get("Retry-After"):
                load.refused_with_retry_after += 1
        await asyncio.sleep(max(0.0, 1 / BATCHES_PER_S - (time.monotonic() - tick)))


async def test_ctrl_c_under_load_counts_every_acknowledged_event() -> None:
    run = MeterflowRun()
    load = Load()
    try:
        async with started(run) as api:
            setup = await billing_setup(api)
            sending = asyncio.create_task(steady_load(api, setup, load))
            await eventually(lambda: asyncio.sleep(0, len(load.acknowledged)), lambda n: n >= 6_000, timeout_s=60)
            stopping = time.monotonic()
            run.interrupt_group()
            status, stderr = await asyncio.to_thread(run.wait, 90)
            drain_s = time.monotonic() - stopping
            sending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sending
        assert status == 0, stderr
        assert "drained in" in stderr, stderr
        assert load.refused_with_retry_after > 0  # new writes were refused with 503, not dropped
        print(f"\nCtrl-C at {BATCH * BATCHES_PER_S} events/s: {len(load.acknowledged)} acknowledged, "
              f"{load.refused_with_retry_after} batches refused while draining, stopped in {drain_s:.1f}s")

        # Started again on the same data: Redis kept what was counted, the broker starts empty.
        async with started(run) as api:
            await usage_reaches(api, setup, str(len(load.acknowledged)), timeout_s=30)
    finally:
        run.end()


async def test_a_service_or_server_that_dies_is_restarted_and_counting_goes_on() -> None:
    run = MeterflowRun()
    try:
        async with started(run) as api:
            assert run.process is not None
            setup = await billing_setup(api)
            for needle in (("python", "services", "processor"), ("valkey-server",)):
                pid = child_running(run.process.pid, *needle)
                assert pid is not None, needle
                os.kill(pid, signal.SIGKILL)
            await eventually(lambda: run.restarts("processor", "redis"), lambda n: min(n) >= 1, timeout_s=30)
            response = await api.post("/v1/ingest", json={"events": [event(setup) for _ in range(10)]})
            assert response.status_code == 202, response.text
            await usage_reaches(api, setup, "10", timeout_s=60)
        run.process.send_signal(signal.SIGTERM)
        status, stderr = await asyncio.to_thread(run.wait, 60)
        assert status == 0, stderr
    finally:
        run.end()


async def test_a_broker_killed_under_load_comes_back_and_every_event_acknowledged_after_counts() -> None:
    """Without the gateway's spool (MF_SPOOL_ENABLED=false; with it nothing is lost: test_spool.py) the
    embedded broker, memory-only, killed while the processor lags (paused here), takes the unsettled
    events with it. That loss is never silent (docs/accounting.md): the supervisor prints it, the
    reconciliation shows it per hour, a gauge exports it and the gateway says "degraded" until ops
    acknowledge it; every event acknowledged after the restart counts."""
    run = MeterflowRun(settings={"SPOOL_ENABLED": "false"})
    load = Load()
    try:
        async with started(run) as api:
            assert run.process is not None
            setup = await billing_setup(api)
            sending = asyncio.create_task(steady_load(api, setup, load))
            await eventually(lambda: asyncio.sleep(0, len(load.acknowledged)), lambda n: n >= 2_000, timeout_s=60)
            processor = child_running(run.process.pid, "python", "services", "processor")
            assert processor is not None
            os.kill(processor, signal.SIGSTOP)  # lagging: what is acknowledged now stays on the broker
            paused_at = len(load.acknowledged)
            await eventually(lambda: asyncio.sleep(0, len(load.acknowledged)), lambda n: n >= paused_at + 500,
                             timeout_s=30)
            broker = child_running(run.process.pid, "tansu")
            assert broker is not None
            os.kill(broker, signal.SIGKILL)
            unsettled = await in_flight(api)  # nothing is acknowledged with the broker gone, nor counted
            os.kill(processor, signal.SIGCONT)
            before_restart = set(load.acknowledged)
            await eventually(lambda: run.restarts("kafka", "processor"), lambda n: min(n) >= 1, timeout_s=60)
            await eventually(lambda: asyncio.sleep(0, len(load.acknowledged - before_restart)),
                             lambda n: n >= 2_000, timeout_s=60)
            # Stopped, not cancelled: a request cancelled in flight can still be counted, unacknowledged.
            load.stop = True
            await sending
            after_restart = load.acknowledged - before_restart
            # The memory-only broker loses what it held unprocessed at the crash; never anything after it.
            await eventually(lambda: in_flight(api), lambda n: n == 0, timeout_s=60)
            lost = await assert_loss_reported(run, api, setup, len(load.acknowledged))
            print(f"\nbroker kill -9 at {BATCH * BATCHES_PER_S} events/s, processor paused: {len(before_restart)} "
                  f"acknowledged before, {len(after_restart)} after, {unsettled} in flight at the kill, {lost} "
                  "lost, found and reported")
            # Events acknowledged while the processor was paused were lost; those it had fetched before the
            # pause it counted once it went on (they were in its memory, not only on the broker).
            assert 0 < lost <= unsettled
        run.process.send_signal(signal.SIGTERM)
        status, stderr = await asyncio.to_thread(run.wait, 60)
        assert status == 0, stderr
        assert f"{lost} acknowledged events LOST in test mode" in stderr, stderr
    finally:
        run.end()


async def assert_loss_reported(run: MeterflowRun, api: httpx.AsyncClient, setup: Setup, answered: int) -> int:
    """The loss, exactly, in every place ops look, until they acknowledge it; returns it.

    Every event the client saw answered `ingested` is acknowledged (the gateway may have acknowledged a
    batch more whose answer the client gave up waiting for); with nothing in flight, what was not counted
    is lost, and the usage billed is exactly what was counted."""
    reconciliation = (await api.get("/v1/reconciliation")).json()["hours"]
    acknowledged, counted, lost = (sum(int(row[name]) for row in reconciliation)
                                   for name in ("acknowledged", "counted", "lost"))
    assert acknowledged >= answered
    assert lost == acknowledged - counted > 0, reconciliation
    # The usage reads the events on record for the period's first, partial hour: written just after the count.
    await eventually(lambda: usage_of(api, setup), lambda n: n == counted, timeout_s=30)
    async with httpx.AsyncClient() as client:
        ready = (await client.get(f"{run.api_url}/readyz")).json()
        assert ready["status"] == "degraded" and ready["lost"]["test"]["events"] == lost, ready
        gauges = (await client.get(f"http://127.0.0.1:{run.ports['SUPERVISOR_WEB_PORT']}/metrics")).text
        assert f'meterflow_events_lost{{mode="test"}} {float(lost)}' in gauges
    unacknowledged = await asyncio.to_thread(run.meterflow, "reconcile", "--mode", "test")
    assert unacknowledged.returncode == 1 and "LOST" in unacknowledged.stderr, unacknowledged.stderr
    seen = await asyncio.to_thread(run.meterflow, "reconcile", "--mode", "test", "--acknowledge-loss")
    assert seen.returncode == 0 and f"acknowledged {lost} lost events" in seen.stderr, seen.stderr
    async with httpx.AsyncClient() as client:
        async def status() -> str:
            return str((await client.get(f"{run.api_url}/readyz")).json()["status"])

        await eventually(status, lambda now: now == "ready", timeout_s=30)  # the gateway reads every 5 s
    return lost

"""`meterflow run` as a user runs it: Ctrl-C under load loses no acknowledged event, and a child that
dies is brought back."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator

import httpx

from tests.e2e.scenario import Setup, billing_setup, event, usage_reaches
from tests.meterflow_run import MeterflowRun, child_running
from tests.support import eventually

BATCH = 100
BATCHES_PER_S = 20  # 2,000 events/s


@contextlib.asynccontextmanager
async def started(run: MeterflowRun) -> AsyncIterator[httpx.AsyncClient]:
    banner = await asyncio.to_thread(run.start)
    assert run.api_url in banner, banner
    key = await asyncio.to_thread(run.create_key)
    async with httpx.AsyncClient(base_url=run.api_url, headers={"Authorization": f"Bearer {key}"},
                                 timeout=10) as api:
        yield api


async def steady_load(api: httpx.AsyncClient, setup: Setup, acknowledged: set[str]) -> None:
    """Batches at a steady rate until cancelled; a key counts as acknowledged only on a 202."""
    while True:
        tick = time.monotonic()
        with contextlib.suppress(httpx.HTTPError):
            response = await api.post("/v1/ingest", json={"events": [event(setup) for _ in range(BATCH)]})
            if response.status_code == 202:
                acknowledged.update(response.json()["ingested"])
        await asyncio.sleep(max(0.0, 1 / BATCHES_PER_S - (time.monotonic() - tick)))


async def test_ctrl_c_under_load_counts_every_acknowledged_event() -> None:
    run = MeterflowRun()
    acknowledged: set[str] = set()
    try:
        async with started(run) as api:
            setup = await billing_setup(api)
            load = asyncio.create_task(steady_load(api, setup, acknowledged))
            await eventually(lambda: asyncio.sleep(0, len(acknowledged)), lambda n: n >= 6_000, timeout_s=60)
            stopping = time.monotonic()
            run.interrupt_group()
            status, stderr = await asyncio.to_thread(run.wait, 90)
            drain_s = time.monotonic() - stopping
            load.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await load
        assert status == 0, stderr
        assert "drained in" in stderr, stderr
        print(f"\nCtrl-C at {BATCH * BATCHES_PER_S} events/s: {len(acknowledged)} acknowledged, "
              f"stopped in {drain_s:.1f}s")

        # Started again on the same data: Redis kept what was counted, the broker starts empty.
        async with started(run) as api:
            await usage_reaches(api, setup, str(len(acknowledged)), timeout_s=30)
    finally:
        run.kill()


async def restarts(run: MeterflowRun, *services: str) -> list[float]:
    """`meterflow_service_restarts_total` of each service, from the supervisor's /metrics."""
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{run.ports['SUPERVISOR_WEB_PORT']}/metrics")).text
    lines = [f'meterflow_service_restarts_total{{service="{service}"}} ' for service in services]
    return [sum(float(row.removeprefix(line)) for row in text.splitlines() if row.startswith(line))
            for line in lines]


async def test_a_service_or_server_that_dies_is_restarted_and_counting_goes_on() -> None:
    run = MeterflowRun()
    try:
        async with started(run) as api:
            assert run.process is not None
            setup = await billing_setup(api)
            for needle in (("services", "processor"), ("valkey-server",)):
                pid = child_running(run.process.pid, *needle)
                assert pid is not None, needle
                os.kill(pid, signal.SIGKILL)
            await eventually(lambda: restarts(run, "processor", "redis"), lambda n: min(n) >= 1, timeout_s=30)
            response = await api.post("/v1/ingest", json={"events": [event(setup) for _ in range(10)]})
            assert response.status_code == 202, response.text
            await usage_reaches(api, setup, "10", timeout_s=60)
        run.process.send_signal(signal.SIGTERM)
        status, stderr = await asyncio.to_thread(run.wait, 60)
        assert status == 0, stderr
    finally:
        run.kill()

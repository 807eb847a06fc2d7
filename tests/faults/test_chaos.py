"""Chaos under `meterflow run`: kill -9 of the processor, the gateway, Redis and Postgres at seeded random
moments, under a producer that retries and sends duplicates (same body and changed body); afterwards the
figures are exact for every event acknowledged. (The broker's kill is in test_run_stop_and_heal.py: the
memory-only embedded broker loses what it held unprocessed, which an exact count cannot allow for.)"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import httpx
import pytest

from tests.e2e.scenario import Setup, billing_setup, event
from tests.faults.support import usage_of
from tests.meterflow_run import MeterflowRun, child_running, started
from tests.support import eventually

# Alone: under another worker's load its kills' recoveries (Postgres replaying its WAL, backoffs) outlast the
# producer's deadline (seen once in two parallel runs); by itself it takes about a minute.
pytestmark = pytest.mark.alone

SEED = 20261125
LOAD_S = 30.0
BATCH = 50
VICTIMS = {"processor": ("python", "services", "processor"), "gateway": ("python", "services", "gateway"),
           "redis": ("valkey-server",), "postgres": ("postgres", "-D")}


@dataclass
class Ledger:
    """What the producer knows: each acknowledged key with the value of its first acknowledged body."""

    values: dict[str, int] = field(default_factory=dict)
    customers: dict[str, str] = field(default_factory=dict)  # each key's customer
    sends: int = 0
    failures: int = 0
    errors_other_than_503: list[int] = field(default_factory=list)

    @property
    def expected_sum(self) -> int:
        return sum(self.values.values())

    def expected_for(self, customer_id: str) -> int:
        return sum(v for key, v in self.values.items() if self.customers[key] == customer_id)


async def send_until_acknowledged(api: httpx.AsyncClient, events: list[dict[str, object]], ledger: Ledger,
                                  deadline: float) -> None:
    """A well-behaved producer: the same batch again after any failure, until a 202."""
    while time.monotonic() < deadline:
        ledger.sends += 1
        with contextlib.suppress(httpx.HTTPError):
            response = await api.post("/v1/ingest", json={"events": events})
            if response.status_code == 202:
                for sent in events:  # a key acknowledged earlier keeps its first body
                    properties = sent["properties"]
                    assert isinstance(properties, dict)
                    ledger.values.setdefault(str(sent["idempotency_key"]), int(properties["v"]))
                    ledger.customers.setdefault(str(sent["idempotency_key"]), str(sent["customer_id"]))
                return
            if response.status_code >= 500 and response.status_code != 503:
                ledger.errors_other_than_503.append(response.status_code)
        ledger.failures += 1
        await asyncio.sleep(0.2)
    raise AssertionError("a batch was never acknowledged")


async def produce(api: httpx.AsyncClient, setups: Sequence[Setup], rng: random.Random, ledger: Ledger,
                  until: float, tag: str, pause_s: float = 0.0) -> None:
    """Batches of new events (keys `tag`-n, customers at random) and 10% duplicates of acknowledged keys,
    each batch sent until acknowledged, `pause_s` between batches."""
    by_customer = {setup.customer_id: setup for setup in setups}
    n = 0
    while time.monotonic() < until:
        batch = []
        for _ in range(BATCH):
            known = list(ledger.values)
            if known and rng.random() < 0.1:  # a duplicate: same key and customer, the same or another body
                key = rng.choice(known)
                value = ledger.values[key] if rng.random() < 0.5 else ledger.values[key] + 1000
                batch.append(event(by_customer[ledger.customers[key]], key=key, properties={"v": value}))
            else:
                n += 1
                batch.append(event(rng.choice(setups), key=f"{tag}-{n}", properties={"v": rng.randint(1, 9)}))
        await send_until_acknowledged(api, batch, ledger, until + 120)
        await asyncio.sleep(pause_s)


async def inflict(run: MeterflowRun, rng: random.Random, until: float) -> list[str]:
    assert run.process is not None
    done = []
    while time.monotonic() < until:
        await asyncio.sleep(rng.uniform(1.5, 4.0))
        name = rng.choice(sorted(VICTIMS))
        pid = child_running(run.process.pid, *VICTIMS[name])
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            done.append(name)
    return done


async def reconciliation(api: httpx.AsyncClient) -> list[dict[str, int]]:
    rows: list[dict[str, int]] = (await api.get("/v1/reconciliation")).json()["hours"]
    return rows


def assert_accounted(hours: list[dict[str, int]], keys: int) -> None:
    """Every key counted once; nothing acknowledged left unsettled and nothing lost. With the gateway's
    interim acknowledged tally, a gateway (or Redis) killed between the broker's acknowledgement and the
    tally write leaves that batch counted and not tallied: an hour may end below zero in flight, never
    above (docs/accounting.md)."""
    assert sum(row["counted"] for row in hours) == keys
    assert sum(row["lost"] for row in hours) == 0
    for row in hours:
        assert row["acknowledged"] == (row["counted"] + row["duplicates"] + row["dead_lettered"] + row["lost"]
                                       + row["in_flight"]) and row["in_flight"] <= 0, row


async def test_seeded_kills_under_retrying_load_leave_every_figure_exact() -> None:
    rng = random.Random(SEED)
    run = MeterflowRun()
    ledger = Ledger()
    try:
        async with started(run) as api:
            setup = await billing_setup(api, aggregation="sum", prop="v")
            until = time.monotonic() + LOAD_S
            faults, _ = await asyncio.gather(inflict(run, random.Random(rng.random()), until),
                                             produce(api, [setup], rng, ledger, until, f"chaos-{SEED}"))
            total = await eventually(lambda: usage_of(api, setup), lambda v: v == ledger.expected_sum,
                                     timeout_s=180, interval_s=1)
            hours = await eventually(lambda: reconciliation(api), lambda rows: sum(r["in_flight"] for r in rows) <= 0,
                                     timeout_s=60, interval_s=1)
        print(f"\nchaos (seed {SEED}): {len(faults)} kills ({', '.join(faults)}), {len(ledger.values)} events "
              f"acknowledged, {ledger.sends} requests ({ledger.failures} failed and retried), sum {total} exact")
        assert_accounted(hours, len(ledger.values))
        assert Decimal(total) == ledger.expected_sum and len(faults) >= 5
        assert ledger.errors_other_than_503 == []  # a dependency away is a 503, never a 500
        assert run.process is not None
        run.process.send_signal(signal.SIGTERM)
        status, log = await asyncio.to_thread(run.wait, 90)
        assert status == 0, log
    finally:
        run.end()

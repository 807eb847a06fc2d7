"""The many-process topology on one machine under faults: `meterflow run --scale` with two gateway processes,
three processors, two closers, two webhook workers and two payment workers, on the embedded broker, a
3-master Valkey cluster and Postgres. Under retrying ingest with 10% duplicates, while periods fall due and
invoices wait to be charged, seeded kill -9s hit processes of every kind (and the supervisor, or the
gateway's own master for its workers, brings each back). Afterwards: every acknowledged event counted once
per customer and the accounting balanced, every due period invoiced once, every invoice's webhook delivered
at least once, every invoice charged at most once (and here, once)."""

from __future__ import annotations

import asyncio
import operator
import os
import random
import signal
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial

import httpx
import pytest

from meterflow.adapters.postgres import Pool, create_pool
from services.topology import SERVICES, parse_scale
from tests.e2e.payments_stack import WORKER, customer_with_method, finalized_invoice, invoice
from tests.e2e.scenario import Setup, billing_setup, the
from tests.faults.support import usage_of
from tests.faults.test_chaos import Ledger, assert_accounted, produce, reconciliation
from tests.faults.test_closer_faults import DAYS_BEHIND, due_subscriptions, invoice_counts
from tests.meterflow_run import MeterflowRun, children_running, started
from tests.provider_doubles import ProviderDouble, provider_double, provider_settings
from tests.redis_cluster import LocalRedisCluster
from tests.support import eventually, unique
from tests.webhook_receiver import Receiver, receiving

# Alone: beside another worker its recoveries slow down past their deadlines (see test_chaos.py).
pytestmark = [pytest.mark.redis_cluster, pytest.mark.alone]

SEED = int(os.environ.get("MF_TOPOLOGY_SEED", "3"))  # kills a gateway worker, later its master
SCALE = "gateway=2,processor=3,closer=2,webhooks=2,payments=2"
KINDS = SERVICES
# Processes of each kind once all are back: the gateway's master besides its workers.
HEALED = {kind: count + (kind == "gateway") for kind, count in parse_scale(SCALE).items()}
KILLS_PER_KIND = 2
LOAD_S = 25.0
PAUSE_S = 0.25  # between one producer's batches: two producers, a few thousand events in all
CUSTOMERS = 3
DUE_SUBSCRIPTIONS = 4  # per round of billing work, DAYS_BEHIND periods each
ROUNDS = 4
SETTINGS = {
    # Services quick to look for work again and to take over a killed worker's lease; the provider keyed.
    "close_interval_s": "1", "webhook_poll_interval_s": "0.2", "webhook_lease_s": "5", "webhook_timeout_s": "2",
    "webhook_retry_schedule_s": "0.5,1,2", "webhook_allow_private_urls": "true",
    **WORKER, **{name: value for name, value in provider_settings("").items() if "base_url" not in name},
}


@dataclass
class Billing:
    """What the billing side was given while the kills went on."""

    due_customers: list[str] = field(default_factory=list)
    charged_invoices: list[str] = field(default_factory=list)


def topology(cluster: LocalRedisCluster, double: ProviderDouble) -> MeterflowRun:
    settings = {**SETTINGS, "redis_url": cluster.url, "paystack_base_url": double.url,
                "flutterwave_base_url": double.url}
    return MeterflowRun(settings={name.upper(): value for name, value in settings.items()},
                        arguments=("--scale", SCALE))


def victims(run: MeterflowRun, kind: str) -> list[int]:
    """The processes of one kind: every copy, and for the gateway its master and its workers (uvicorn's,
    started by multiprocessing; not its resource tracker, which is no gateway)."""
    assert run.process is not None
    copies = children_running(run.process.pid, "python", "services", kind)
    if kind == "gateway":
        return copies + [worker for master in copies for worker in children_running(master, "python",
                                                                                     "--multiprocessing-fork")]
    return copies


def healed(run: MeterflowRun) -> dict[str, int]:
    """Processes of each kind now running, as `SCALE` asks once all are back (the gateway: master + workers)."""
    return {kind: len(victims(run, kind)) for kind in KINDS}


async def inflict(run: MeterflowRun, rng: random.Random, until: float) -> list[str]:
    """KILLS_PER_KIND kill -9s of each kind, in a seeded order, spread over the load."""
    plan = [kind for kind in KINDS for _ in range(KILLS_PER_KIND)]
    rng.shuffle(plan)
    gap_s = (until - time.monotonic()) / (len(plan) + 1)
    done = []
    for kind in plan:
        await asyncio.sleep(rng.uniform(0.5, 1.5) * gap_s)
        pids = victims(run, kind)
        if pids:
            os.kill(rng.choice(pids), signal.SIGKILL)
            done.append(kind)
    return done


async def bill_meanwhile(api: httpx.AsyncClient, pool: Pool, billing: Billing, until: float) -> None:
    """Rounds of work for closers, webhook and payment workers while processes die: subscriptions with
    periods due (closed by the closers), and finalized invoices of customers with a card (charged)."""
    for _ in range(ROUNDS):
        customer, _ = await due_subscriptions(pool, DUE_SUBSCRIPTIONS)
        billing.due_customers.append(customer)
        subscription, _ = await customer_with_method(api, "paystack", unique("AUTH"))
        billing.charged_invoices.append((await finalized_invoice(api, subscription))["id"])
        await asyncio.sleep(max(0.0, (until - time.monotonic()) / ROUNDS))


@asynccontextmanager
async def billing_servers() -> AsyncIterator[tuple[ProviderDouble, Receiver]]:
    async with provider_double() as double, receiving() as receiver:
        yield double, receiver


def hours_since(before: list[dict[str, int]], after: list[dict[str, int]]) -> list[dict[str, int]]:
    """The accounting this run added: the cluster is the session's, other tests counted there too."""
    earlier = {row["hour"]: row for row in before}
    return [{name: value - earlier.get(row["hour"], {}).get(name, 0) if name != "hour" else value
             for name, value in row.items()} for row in after]


async def undelivered(pool: Pool, receiver: Receiver, billing: Billing) -> set[str]:
    """The invoices given or closed here whose invoice.finalized the receiver has not had yet."""
    rows = await pool.fetch("SELECT id FROM invoices WHERE customer_id = ANY($1) AND status <> 'void'",
                            billing.due_customers)
    delivered = {r.event["data"]["invoice"]["id"] for r in receiver.at("/invoices")}
    return ({row["id"] for row in rows} | set(billing.charged_invoices)) - delivered


async def test_kills_of_every_kind_in_a_many_process_topology_leave_billing_exact(
        redis_cluster: LocalRedisCluster) -> None:
    print(f"\ntopology chaos: seed {SEED} (MF_TOPOLOGY_SEED to replay)")
    rng = random.Random(SEED)
    ledger, billing = Ledger(), Billing()
    async with AsyncExitStack() as stack:
        double, receiver = await stack.enter_async_context(billing_servers())
        run = topology(redis_cluster, double)
        stack.callback(run.end)
        began = time.monotonic()
        api = await stack.enter_async_context(started(run))
        up_s = time.monotonic() - began
        second = await stack.enter_async_context(httpx.AsyncClient(base_url=api.base_url, headers=api.headers,
                                                                   timeout=10))
        pool = await create_pool(f"postgresql://postgres@127.0.0.1:{run.ports['EMBEDDED_POSTGRES_PORT']}/meterflow")
        stack.push_async_callback(pool.close)
        the(await api.post("/v1/webhook_endpoints", json={"url": receiver.url("/invoices"),
                                                          "events": ["invoice.finalized"]}), "webhook_endpoint", 201)
        setups = [await billing_setup(api, aggregation="sum", prop="v") for _ in range(CUSTOMERS)]
        before = await reconciliation(api)
        until = time.monotonic() + LOAD_S
        tag = unique("topology")
        kills, *_ = await asyncio.gather(
            inflict(run, random.Random(rng.random()), until),
            produce(api, setups, random.Random(rng.random()), ledger, until, f"{tag}-a", PAUSE_S),
            produce(second, setups, random.Random(rng.random()), ledger, until, f"{tag}-b", PAUSE_S),
            bill_meanwhile(api, pool, billing, until))

        await eventually(lambda: asyncio.to_thread(healed, run), lambda now: now == HEALED, timeout_s=30)
        await usage_settles(api, setups, ledger)
        settled_s = time.monotonic() - until
        hours = await eventually(lambda: reconciliation(api), lambda rows: all(
            row["in_flight"] <= 0 for row in hours_since(before, rows)), timeout_s=60, interval_s=1)
        assert_accounted(hours_since(before, hours), len(ledger.values))
        assert ledger.errors_other_than_503 == []  # a process away is a 503 or a retry, never a 500

        periods = DUE_SUBSCRIPTIONS * DAYS_BEHIND
        for customer in billing.due_customers:  # every due period invoiced, none twice
            await eventually(partial(invoice_counts, pool, customer), lambda n: n == (periods, periods),
                             timeout_s=60, interval_s=0.5)
        for invoice_id in billing.charged_invoices:
            await eventually(partial(invoice, api, invoice_id), lambda i: i["status"] == "paid", timeout_s=60,
                             interval_s=0.5)
            assert len(double.succeeded(invoice_id.replace("_", "-"))) == 1, invoice_id  # charged once, never twice
        await eventually(partial(undelivered, pool, receiver, billing), lambda left: not left, timeout_s=60,
                         interval_s=0.5)

        print(f"topology chaos (seed {SEED}): {len(kills)} kills ({', '.join(kills)}), {len(ledger.values)} events "
              f"acknowledged, {ledger.sends} requests ({ledger.failures} retried), "
              f"{len(billing.due_customers) * periods} periods closed, {len(billing.charged_invoices)} invoices "
              f"charged once, {len(receiver.at('/invoices'))} webhooks for them; up in {up_s:.0f}s, load "
              f"{LOAD_S:.0f}s, counted {settled_s:.0f}s after it, all checked {time.monotonic() - until:.0f}s after it")
        assert sorted(kills) == sorted(kind for kind in KINDS for _ in range(KILLS_PER_KIND))
        assert run.process is not None
        run.process.send_signal(signal.SIGTERM)
        status, log = await asyncio.to_thread(run.wait, 90)
        assert status == 0, log


async def usage_settles(api: httpx.AsyncClient, setups: Sequence[Setup], ledger: Ledger) -> None:
    """Each customer's total reaches exactly what was acknowledged for it (and a total past it would fail)."""
    for setup in setups:
        expected = ledger.expected_for(setup.customer_id)
        await eventually(partial(usage_of, api, setup), partial(operator.le, expected), timeout_s=120,
                         interval_s=1)
        assert await usage_of(api, setup) == expected, setup.customer_id

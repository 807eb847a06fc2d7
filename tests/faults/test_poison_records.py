"""Poison records amid thousands of good ones, in both modes, on direct Kafka and over HTTP: every good
event is counted exactly once, each poison is dead-lettered with its reason (or, over HTTP, refused at the
edge), and the processor never stalls. Each of these payloads stopped all counting on an older main."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.postgres import Pool
from meterflow.adapters.usage_store import UsageStore
from meterflow.domain.catalog import Metric
from meterflow.domain.events import decode_json, encode_json
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.modes import Mode
from meterflow.domain.records import DeadLetterCategory
from meterflow.domain.rollups import Aggregation
from meterflow.settings import Settings
from testkit.kafka import produce_events
from testkit.workload import Books, Expected, open_books, workload
from tests.faults.dead_letters import all_dead_letters, read_dead_letters
from tests.faults.readiness import readiness
from tests.faults.support import wait_for_exact
from tests.support import ServiceProcess, eventually

GOOD_EVENTS = 10_000
REFUSED = {DeadLetterCategory.INVALID_EVENT.value}
# A NUL or a lone surrogate may be refused by validation, or found by isolating what makes a step fail.
REFUSED_OR_ISOLATED = REFUSED | {DeadLetterCategory.PROCESSING_FAILED.value}


@dataclass(frozen=True)
class Poison:
    event: dict[str, object]
    categories: set[str]
    reason: str  # a part of the reason the dead letter must give


async def add_average_metric(pool: Pool, books: Books) -> None:
    """`average` reads the same property as the books' `sum`: 1e22 used to make its figure raise."""
    await CatalogRepository(pool).add_metric(Metric(new_id(IdKind.METRIC), books.mode, "avg", books.event_name,
                                                    Aggregation.AVERAGE, "units", None, datetime.now(UTC)))


def poisons(books: Books) -> list[Poison]:
    customer = books.customers[0]

    def event(key: str, units: object, customer_id: str = customer) -> dict[str, object]:
        return {"event_name": books.event_name, "customer_id": customer_id,
                "idempotency_key": f"{books.count_metric}-{key}", "properties": {"units": units}}

    return [Poison(event("overflow", Decimal("1e9999999")), REFUSED, "properties.units"),
            Poison(event("huge", Decimal("1e22")), REFUSED, "properties.units"),
            Poison(event("nul", "1", customer_id=customer + "\x00"), REFUSED_OR_ISOLATED, ""),
            Poison(event("surrogate-\ud800", "1"), REFUSED_OR_ISOLATED, "")]


def negative(books: Books) -> dict[str, object]:
    """Not a poison: a negative value is a correction, counted as it is (docs/billing.md, "Aggregations")."""
    return {"event_name": books.event_name, "customer_id": books.customers[0],
            "idempotency_key": f"{books.count_metric}-negative", "properties": {"units": "-5"}}


def check_letters(letters: list[dict[str, object]], expected: list[Poison]) -> None:
    """Each poison dead-lettered once, with its reason (matched by key: the gateway re-encodes events)."""
    by_key = {_key_of(letter["value"]): letter for letter in letters}
    assert len(by_key) == len(expected) == len(letters), letters
    for poison in expected:
        letter = by_key[str(poison.event["idempotency_key"])]
        reason = str(letter["reason"])
        assert letter["category"] in poison.categories and poison.reason in reason and reason, letter


def _key_of(value: object) -> str:
    assert isinstance(value, bytes)
    key: str = decode_json(value)["idempotency_key"]
    return key


async def test_poison_records_on_kafka_in_both_modes_never_stop_the_good_ones(
        isolated: Settings, pool: Pool, usage_store: UsageStore) -> None:
    expected: dict[Mode, Expected] = {}
    books_of: dict[Mode, Books] = {}
    all_poisons: list[Poison] = []
    for mode in Mode:
        books = books_of[mode] = await open_books(pool, mode=mode)
        await add_average_metric(pool, books)
        events, good = workload(books, GOOD_EVENTS)
        bad = poisons(books)
        all_poisons += bad
        middle = len(events) // 2
        await produce_events(isolated, mode, [*events[:middle], *(p.event for p in bad), negative(books),
                                       *events[middle:]])
        expected[mode] = Expected(good.events + 1, good.units - 5)

    with ServiceProcess.running("processor", isolated):
        for mode, books in books_of.items():
            await wait_for_exact(usage_store, books, expected[mode], isolated, mode=mode)
        check_letters(await all_dead_letters(isolated), all_poisons)
        await eventually(lambda: readiness(isolated), lambda answer: answer.advancing, 30)


@pytest.mark.parametrize("mode", list(Mode))
async def test_a_poison_event_over_http_is_refused_or_dead_lettered_never_counted(
        mode: Mode, isolated: Settings, pool: Pool, usage_store: UsageStore, test_key: str, live_key: str) -> None:
    books = await open_books(pool, mode=mode, customers=2)
    await add_average_metric(pool, books)
    events, good = workload(books, 2_000)
    api_key = live_key if mode is Mode.LIVE else test_key
    dead_lettered: list[Poison] = []
    with ServiceProcess.running("gateway", isolated), ServiceProcess.running("processor", isolated):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{isolated.api_port}", timeout=30,
                                     headers={"Authorization": f"Bearer {api_key}"}) as client:
            for batch in (events[:1_000], events[1_000:2_000]):
                answer = await client.post("/v1/ingest", content=encode_json({"events": batch}))
                assert answer.status_code == 202 and answer.json()["rejected"] == [], answer.text[:500]
            for poison in poisons(books)[:2]:
                answer = await client.post("/v1/ingest", content=encode_json({"events": [poison.event]}))
                assert answer.status_code in (202, 400), answer.text
                if answer.status_code == 202 and not answer.json()["rejected"]:
                    assert answer.json()["ingested"] == [poison.event["idempotency_key"]], answer.text
                    dead_lettered.append(poison)
            answer = await client.post("/v1/ingest", content=encode_json({"events": [*events[2_000:],
                                                                                      negative(books)]}))
            assert answer.status_code == 202 and answer.json()["rejected"] == [], answer.text[:500]
        await wait_for_exact(usage_store, books, Expected(good.events + 1, good.units - 5), isolated)
        check_letters(await all_dead_letters(isolated), dead_lettered)
        await eventually(lambda: readiness(isolated), lambda answer: answer.advancing, 30)



async def test_a_batch_of_nothing_but_poison_is_dead_lettered_with_each_reason_and_the_stream_goes_on(
        isolated: Settings, pool: Pool, usage_store: UsageStore) -> None:
    books = await open_books(pool, customers=2)
    await add_average_metric(pool, books)
    bad = poisons(books)[:2]
    events, good = workload(books, 500)
    with ServiceProcess.running("processor", isolated):
        await produce_events(isolated, books.mode, [p.event for p in bad])
        check_letters(await read_dead_letters(isolated, len(bad)), bad)
        await produce_events(isolated, books.mode, events)
        await wait_for_exact(usage_store, books, good, isolated)
        check_letters(await all_dead_letters(isolated), bad)

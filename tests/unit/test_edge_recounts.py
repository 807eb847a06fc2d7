"""The bounds on edge recounts: shared by callers, limited in number, a caller's wait bounded (503, the
recount goes on for the retry), and stopped when its last caller goes away. Recounts here are
coroutines gated by events, so every step is ordered by the test, never by time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from meterflow.application.edge_recounts import EdgeRecounts, RecountLimits, RecountOutcome
from meterflow.domain.errors import Unavailable
from tests.support import eventually


class Gated:
    """A recount that runs until the test opens its gate."""

    def __init__(self, result: str) -> None:
        self.result, self.gate, self.started, self.cancelled, self.runs = result, asyncio.Event(), 0, 0, 0

    async def __call__(self) -> str:
        self.started += 1
        try:
            await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        self.runs += 1
        return self.result


def recounts(limits: RecountLimits) -> tuple[EdgeRecounts[str], list[RecountOutcome]]:
    seen: list[RecountOutcome] = []
    return EdgeRecounts[str](limits, seen.append), seen


def ask(recounts: EdgeRecounts[str], *work: tuple[str, Callable[[], Awaitable[str]]]) -> asyncio.Task[list[str]]:
    return asyncio.create_task(recounts.results(list(work)))


async def until(condition: Callable[[], bool]) -> None:
    await eventually(lambda: asyncio.sleep(0, condition()), bool, timeout_s=10, interval_s=0.001)


async def test_callers_asking_for_the_same_recount_share_one_fold() -> None:
    edges, seen = recounts(RecountLimits(slots=1))
    work = Gated("figure")
    first, second = ask(edges, ("edge", work)), ask(edges, ("edge", work))
    await until(lambda: work.started == 1)
    work.gate.set()
    assert await first == ["figure"] and await second == ["figure"]
    assert work.started == 1 and seen == [RecountOutcome.FOLDED]


async def test_no_more_recounts_run_at_once_than_the_slots() -> None:
    edges, _ = recounts(RecountLimits(slots=1))
    a, b = Gated("a"), Gated("b")
    both = ask(edges, ("a", a), ("b", b))
    await until(lambda: a.started + b.started == 1)
    assert edges.under_way == 2  # both wanted, one folding
    for work in (a, b):
        work.gate.set()
    assert await both == ["a", "b"]


async def test_past_the_queue_a_caller_with_new_work_is_refused_at_once_one_joining_is_not() -> None:
    edges, seen = recounts(RecountLimits(slots=1, queue=1))
    running = Gated("a")
    first = ask(edges, ("a", running))
    await until(lambda: running.started == 1)
    with pytest.raises(Unavailable):
        await edges.results([("b", Gated("b"))])
    joining = ask(edges, ("a", running))
    running.gate.set()
    assert await first == ["a"] and await joining == ["a"]
    assert seen == [RecountOutcome.REFUSED, RecountOutcome.FOLDED]


async def test_a_caller_waits_at_most_wait_s_and_the_recount_goes_on_for_its_retry() -> None:
    edges, seen = recounts(RecountLimits(slots=1, wait_s=0))
    work = Gated("figure")
    with pytest.raises(Unavailable, match="Retry-After"):
        await edges.results([("edge", work)])
    assert work.cancelled == 0 and edges.under_way == 1
    work.gate.set()
    await until(lambda: edges.under_way == 0)
    assert work.runs == 1 and seen == [RecountOutcome.DEFERRED, RecountOutcome.FOLDED]


async def test_a_recount_stops_when_its_last_caller_goes_away() -> None:
    edges, seen = recounts(RecountLimits(slots=1))
    work = Gated("figure")
    caller = ask(edges, ("edge", work))
    await until(lambda: work.started == 1)
    caller.cancel()  # what a client's disconnect does to its route's work
    await until(lambda: edges.under_way == 0)
    assert work.cancelled == 1 and work.runs == 0 and seen == [RecountOutcome.CANCELLED]


async def test_a_recount_another_caller_still_waits_for_goes_on() -> None:
    edges, _ = recounts(RecountLimits(slots=1))
    work = Gated("figure")
    leaving, staying = ask(edges, ("edge", work)), ask(edges, ("edge", work))
    await until(lambda: work.started == 1)
    leaving.cancel()
    await asyncio.gather(leaving, return_exceptions=True)
    work.gate.set()
    assert await staying == ["figure"] and work.cancelled == 0


async def test_a_failed_recount_fails_its_callers_and_is_counted() -> None:
    edges, seen = recounts(RecountLimits(slots=1))

    async def broken() -> str:
        raise ConnectionError("the record is away")

    with pytest.raises(ConnectionError):
        await edges.results([("edge", broken)])
    assert seen == [RecountOutcome.FAILED] and edges.under_way == 0


async def test_one_caller_may_need_more_recounts_than_slots_and_queue() -> None:
    """A usage listing of many customers: each small edge folded in turn, none refused."""
    edges, _ = recounts(RecountLimits(slots=1, queue=1))
    works = [Gated(f"edge {i}") for i in range(10)]
    for work in works:
        work.gate.set()
    assert await edges.results([(f"edge {i}", work) for i, work in enumerate(works)]) == [w.result for w in works]


async def test_at_most_queue_recounts_go_on_for_callers_told_to_retry() -> None:
    edges, seen = recounts(RecountLimits(slots=1, queue=1, wait_s=0))
    kept, dropped = Gated("kept"), Gated("dropped")
    with pytest.raises(Unavailable):
        await edges.results([("kept", kept), ("dropped", dropped)])
    await until(lambda: edges.under_way == 1)
    assert dropped.runs == 0 and RecountOutcome.CANCELLED in seen
    kept.gate.set()
    await until(lambda: edges.under_way == 0)
    assert kept.runs == 1

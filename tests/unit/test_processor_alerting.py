"""The processor's alert loop (services/processor/alerting.py): changes noted while a round runs coalesce
into the next one, the first round covers every customer, a round that fails for want of a dependency is
tried again with its customers, and any other failure drops them (reported, never retried forever)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Collection

import pytest

from meterflow.application.alerts import AlertRound
from meterflow.application.ports.unit_of_work import CustomerKey
from meterflow.domain.modes import Mode
from meterflow.observability import ALERT_EVALUATION_FAILURES
from services.processor.alerting import AlertTrigger, evaluate_forever

A, B, C = ((Mode.TEST, name) for name in ("cus_a", "cus_b", "cus_c"))


class Evaluations:
    """Records each round's customers; fails the rounds told to, with the error given."""

    def __init__(self) -> None:
        self.rounds: list[set[CustomerKey] | None] = []
        self.failures: list[Exception] = []
        self.ran = asyncio.Event()
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, customers: Collection[CustomerKey] | None) -> AlertRound:
        await self.gate.wait()
        self.rounds.append(None if customers is None else set(customers))
        self.ran.set()
        if self.failures:
            raise self.failures.pop(0)
        return AlertRound()

    async def rounds_reach(self, count: int) -> None:
        async with asyncio.timeout(5):
            while len(self.rounds) < count:
                self.ran.clear()
                await self.ran.wait()


@contextlib.asynccontextmanager
async def running(trigger: AlertTrigger, evaluations: Evaluations) -> AsyncIterator[None]:
    task = asyncio.create_task(evaluate_forever(trigger, evaluations, lambda e: isinstance(e, ConnectionError),
                                                retry_s=0.01))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_the_first_round_covers_everyone_and_changes_noted_meanwhile_make_one_round() -> None:
    trigger, evaluations = AlertTrigger(), Evaluations()
    evaluations.gate.clear()
    async with running(trigger, evaluations):
        trigger.changed([A])
        await asyncio.sleep(0)  # the loop takes the first round and waits at the gate
        trigger.changed([B])
        trigger.changed([A, C])
        trigger.changed([])
        evaluations.gate.set()
        await evaluations.rounds_reach(2)
        assert evaluations.rounds == [None, {A, B, C}]


@pytest.mark.parametrize(("error", "outcome", "noted", "third"), [
    (ConnectionError("postgres away"), "retried", [], {A}),  # A again, with nothing new noted
    (ValueError("a bug"), "dropped", [B], {B}),  # A is gone: the next round is B's alone
])
async def test_a_failed_round_is_retried_only_when_a_dependency_was_away(
        error: Exception, outcome: str, noted: list[CustomerKey], third: set[CustomerKey]) -> None:
    trigger, evaluations = AlertTrigger(), Evaluations()
    before = ALERT_EVALUATION_FAILURES.labels(outcome)._value.get()
    async with running(trigger, evaluations):
        await evaluations.rounds_reach(1)
        evaluations.failures.append(error)
        trigger.changed([A])
        await evaluations.rounds_reach(2)
        trigger.changed(noted)
        await evaluations.rounds_reach(3)
        assert evaluations.rounds[1:] == [{A}, third]
    assert ALERT_EVALUATION_FAILURES.labels(outcome)._value.get() == before + 1

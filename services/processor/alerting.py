"""Alerts evaluated in the stream, beside the counting loop and never in its way.

Once a batch is settled (its counts durable, its offsets offered for commit), `AlertTrigger.changed`
notes the customers it counted, and returns at once. One task, `evaluate_forever`, takes everything
noted since its last round and evaluates only the alerts watching those customers' subscriptions
(application/alerts.py): a threshold fires within a round of the crossing batch, and under load the
rounds coalesce (one round for all the customers noted while the previous one ran) instead of
queueing behind the stream.

A round that fails is reported (log and `meterflow_alert_evaluation_failures_total`) and never touches
counting: when a dependency was away its customers are noted again and evaluated after
`alert_retry_s`; any other failure drops them, left to their next change (a bug must not loop forever).
The first round, and the first after each partition assignment, evaluates every alert: a crossing
whose round died with a killed processor fires when a processor starts again or takes its partitions
over. Whatever rounds run, here or in another processor, a threshold fires once per
period: the state's key in Postgres decides.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Iterable

from meterflow.application.alerts import AlertRound
from meterflow.application.isolation import IsTransient
from meterflow.application.ports.unit_of_work import CustomerKey
from services.alert_reports import report_failure, report_round

Evaluate = Callable[[Collection[CustomerKey] | None], Awaitable[AlertRound]]


class AlertTrigger:
    """The customers whose usage changed since the last round began; `None` stands for every customer."""

    def __init__(self) -> None:
        self._noted: set[CustomerKey] | None = set()
        self._wake = asyncio.Event()
        self.changed(None)  # the first round: every customer

    def changed(self, customers: Iterable[CustomerKey] | None) -> None:
        if customers is None:
            self._noted = None
        elif self._noted is not None:
            self._noted.update(customers)
        if self._noted is None or self._noted:
            self._wake.set()

    async def take(self) -> set[CustomerKey] | None:
        """Waits until something was noted, then hands it all over and starts noting afresh."""
        await self._wake.wait()
        self._wake.clear()
        taken, self._noted = self._noted, set()
        return taken


async def evaluate_forever(trigger: AlertTrigger, evaluate: Evaluate, is_transient: IsTransient,
                           retry_s: float) -> None:
    while True:
        customers = await trigger.take()
        try:
            done = await evaluate(customers)
        except Exception as error:
            retried = is_transient(error)
            report_failure(retried, None if customers is None else len(customers))
            if retried:
                await asyncio.sleep(retry_s)  # the dependency is away: do not spin on it
                trigger.changed(customers)
            continue
        report_round(done)

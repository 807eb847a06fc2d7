"""The accounting commands (docs/accounting.md): `meterflow reconcile`, and the loss check
`meterflow run` makes whenever its embedded broker (re)starts empty. Each takes the clock it is handed."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from meterflow.adapters.accounting_store import AccountingStore
from meterflow.adapters.redis_client import connect_redis
from meterflow.application.accounting import LossCheck, Reconciliation
from meterflow.clock import Clock
from meterflow.domain.accounting import HourFigures, LossReport
from meterflow.domain.events import format_timestamp
from meterflow.domain.modes import Mode
from meterflow.observability import EVENTS_LOST, HOURS_LOST
from meterflow.settings import Settings

_COLUMNS = ("hour", "acknowledged", "counted", "duplicates", "dead_lettered", "lost", "in_flight")


@asynccontextmanager
async def reconciliation(settings: Settings, clock: Clock) -> AsyncIterator[Reconciliation]:
    redis = connect_redis(settings.redis_dsn)
    try:
        retention = timedelta(seconds=settings.accounting_retention_s)
        yield Reconciliation(AccountingStore(redis, retention), clock, retention,
                             timedelta(seconds=settings.processor_stall_after_s))
    finally:
        await redis.aclose()


def table(rows: Sequence[HourFigures], stalled: Sequence[HourFigures]) -> str:
    """The figures as an aligned table; a stalled hour is marked `!`."""
    cells = [list(_COLUMNS)] + [[format_timestamp(r.hour) + (" !" if r in stalled else ""), *map(str, (
        r.acknowledged, r.counted, r.duplicates, r.dead_lettered, r.lost, r.in_flight))] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(_COLUMNS))]
    return "\n".join("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in
                               enumerate(zip(row, widths, strict=True))) for row in cells)


async def reconcile(settings: Settings, clock: Clock, mode: Mode, start: datetime | None, end: datetime | None,
                    acknowledge_loss: bool) -> int:
    """Exit status 1 when a past hour (ended more than the stall threshold ago) still has events in
    flight, or lost events are not acknowledged yet."""
    async with reconciliation(settings, clock) as books:
        if acknowledge_loss:
            seen = await books.acknowledge_loss(mode)
            print(f"acknowledged {seen.events} lost events in {len(seen.hours)} hours ({mode} mode)", file=sys.stderr)
        rows = await books.hours(mode, start, end)
        stalled = books.stalled(rows)
        losses = await books.losses(mode)
    print(table(rows, stalled))
    if stalled:
        print(f"{len(stalled)} past hours still have events in flight (marked !): the processor is behind, "
              "or events were lost", file=sys.stderr)
    if losses.events:
        print(loss_message(losses) + f"; once handled: meterflow reconcile --mode {mode} --acknowledge-loss",
              file=sys.stderr)
    return 1 if stalled or losses.events else 0


def loss_message(loss: LossReport) -> str:
    hours = ", ".join(f"{format_timestamp(hour)}: {n}" for hour, n in sorted(loss.hours.items()))
    return f"{loss.events} acknowledged events LOST in {loss.mode} mode ({hours})"


async def check_loss(settings: Settings, clock: Clock) -> list[str]:
    """With the embedded broker gone (or just started empty) and no processor running: record what was
    lost and say so (the supervisor prints the lines and exports the gauges on its own /metrics)."""
    try:
        async with reconciliation(settings, clock) as books:
            found = await LossCheck(books)()
            pending = [await books.losses(mode) for mode in Mode]
    except Exception as exc:  # Redis away too: nothing can be told, and the gap stays in flight, visible
        return [f"could not check for acknowledged events lost with the broker ({exc!r}): run "
                "`meterflow reconcile` once Redis is back"]
    for loss in pending:
        EVENTS_LOST.labels(loss.mode.value).set(loss.events)
        HOURS_LOST.labels(loss.mode.value).set(len(loss.hours))
    return [f"the embedded broker restarted empty: {loss_message(loss)}; once handled, acknowledge with "
            f"`meterflow reconcile --mode {loss.mode} --acknowledge-loss`" for loss in found if loss.events]

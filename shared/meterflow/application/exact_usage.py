"""The usage reader every figure goes through (usage API, drafts, period close): any `[start, end)` to
the second, for every aggregation (docs/billing.md, "Aggregations"). Whole hours come from the rollups in one round
trip; the partial edge hours are recounted from the events on record (`domain/exact_periods.py`).

Same port as the rollups (`UsageReader`), so `compute_invoices` and the closer are unchanged. An
hour-aligned period reads the rollups only; a period's edges cost one indexed read of at most two
hours of one customer's events each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from meterflow.application.ports import CatalogReader, EventRecordReader, RollupReader
from meterflow.domain.catalog import Metric
from meterflow.domain.event_record import EventFilter, fold_events
from meterflow.domain.exact_periods import split
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period
from meterflow.domain.rollups import Aggregation, Rollup
from meterflow.domain.usage import PeriodUsage, UsageQuery


@dataclass(frozen=True)
class ExactUsage:
    rollups: RollupReader
    record: EventRecordReader
    catalog: CatalogReader

    async def usage(self, queries: Sequence[UsageQuery]) -> list[PeriodUsage]:
        metrics = await self._metrics(queries)
        known = [(i, q, metrics[(q.mode, q.metric_id)], split(q.period)) for i, q in enumerate(queries)
                 if (q.mode, q.metric_id) in metrics]  # an unknown metric counts nothing, as in the rollups
        whole = [(i, UsageQuery(q.mode, q.metric_id, q.customer_id, part.hours,
                                distinct=metric.aggregation is Aggregation.UNIQUE))
                 for i, q, metric, part in known if part.hours is not None]
        merged: list[tuple[Rollup, set[str]]] = [(Rollup(), set()) for _ in queries]
        for (i, _), figure in zip(whole, await self.rollups.usage_parts([q for _, q in whole]), strict=True):
            merged[i] = figure
        for i, query, metric, part in known:
            for edge in part.edges:
                rollup, values = await self._edge(query, metric, edge)
                merged[i] = (merged[i][0].merge(rollup), merged[i][1] | values)
        return [PeriodUsage(rollup, len(values)) for rollup, values in merged]

    async def _metrics(self, queries: Sequence[UsageQuery]) -> dict[tuple[Mode, str], Metric]:
        found: dict[tuple[Mode, str], Metric] = {}
        for mode in {q.mode for q in queries}:
            ids = {q.metric_id for q in queries if q.mode is mode}
            found |= {(mode, i): m for i, m in (await self.catalog.metrics_by_id(mode, ids)).items()}
        return found

    async def _edge(self, query: UsageQuery, metric: Metric, edge: Period) -> tuple[Rollup, set[str]]:
        rollup, values = Rollup(), set[str]()
        wanted = EventFilter(query.customer_id, (metric.event_name,), start=edge.start, end=edge.end)
        async for chunk in self.record.scan(query.mode, wanted):
            more, seen = fold_events(metric.rule, chunk)
            rollup, values = rollup.merge(more), values | seen
        return rollup, values

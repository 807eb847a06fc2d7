"""The usage reader every figure goes through (usage API, drafts, period close): any `[start, end)` to
the second, for every aggregation (docs/billing.md, "Aggregations"). Whole hours come from the rollups in one round
trip; each partial edge hour is an edge figure (`domain/edge_figures.py`): kept and still current, it is
read with the others in one query; otherwise it is folded from the events on record, once for all
callers, within the recount limits (`edge_recounts.py`), and kept for the next caller.

So an edge costs one indexed read however many events it holds, except the first time after its hour
was written to (docs/usage-edges.md). Same port as the rollups (`UsageReader`), so `compute_invoices`
and the closer are unchanged, and close, drafts and the usage API read one figure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import partial

from meterflow.application.edge_recounts import EdgeRecounts
from meterflow.application.ports.usage import CatalogReader, EdgeFigureStore, RollupReader, ValueTallies
from meterflow.clock import Clock
from meterflow.domain.catalog import Metric
from meterflow.domain.edge_figures import Edge, EdgeFigure, EdgeRules
from meterflow.domain.event_record import EventFilter, fold_tally
from meterflow.domain.exact_periods import split
from meterflow.domain.modes import Mode
from meterflow.domain.rollups import Aggregation, MetricRule, Rollup
from meterflow.domain.usage import PeriodUsage, UsageQuery

_FOLD_INLINE = 200  # distinct values
_EMPTY = EdgeFigure(Rollup(), frozenset())


@dataclass(frozen=True)
class ExactUsage:
    rollups: RollupReader
    record: ValueTallies
    catalog: CatalogReader
    edges: EdgeFigureStore
    recounts: EdgeRecounts[EdgeFigure]
    rules: EdgeRules
    clock: Clock

    async def usage(self, queries: Sequence[UsageQuery], known: Collection[Metric] = ()) -> list[PeriodUsage]:
        metrics = await self._metrics(queries, known)
        asked = [(i, q, metrics[(q.mode, q.metric_id)], split(q.period)) for i, q in enumerate(queries)
                 if (q.mode, q.metric_id) in metrics]  # an unknown metric counts nothing, as in the rollups
        whole = [(i, UsageQuery(q.mode, q.metric_id, q.customer_id, part.hours,
                                distinct=metric.aggregation is Aggregation.UNIQUE))
                 for i, q, metric, part in asked if part.hours is not None]
        edges = [(i, Edge(q.mode, q.metric_id, q.customer_id, metric.event_name, period), metric.rule)
                 for i, q, metric, part in asked for period in part.edges]
        # Redis and Postgres at once: the two reads do not depend on each other.
        hours, figures = await asyncio.gather(self.rollups.usage_parts([q for _, q in whole]),
                                              self._figures([(edge, rule) for _, edge, rule in edges]))
        merged: list[tuple[Rollup, frozenset[str] | set[str]]] = [(Rollup(), set()) for _ in queries]
        for (i, _), figure in zip(whole, hours, strict=True):
            merged[i] = figure
        for (i, _, _), edge_figure in zip(edges, figures, strict=True):
            merged[i] = (merged[i][0].merge(edge_figure.rollup), merged[i][1] | edge_figure.values)
        return [PeriodUsage(rollup, len(values)) for rollup, values in merged]

    async def _metrics(self, queries: Sequence[UsageQuery],
                       known: Collection[Metric]) -> dict[tuple[Mode, str], Metric]:
        """The queries' metrics: those the caller passed, the rest read in one catalog read per mode."""
        found = {(m.mode, m.id): m for m in known}
        for mode in {q.mode for q in queries}:
            ids = {q.metric_id for q in queries if q.mode is mode and (mode, q.metric_id) not in found}
            if ids:
                found |= {(mode, i): m for i, m in (await self.catalog.metrics_by_id(mode, ids)).items()}
        return found

    async def _figures(self, edges: Sequence[tuple[Edge, MetricRule]]) -> list[EdgeFigure]:
        """Kept figures where current; the others recounted (a recount is named by its edge and the
        version it folds at: a caller that saw a newer version never takes an older fold)."""
        now, states = self.clock.now(), await self.edges.states([edge for edge, _ in edges])
        known = [state.figure if state.figure is not None
                 else _EMPTY if self.rules.known_empty(edge.period, state.version, now) else None
                 for (edge, _), state in zip(edges, states, strict=True)]
        recounted = iter(await self.recounts.results(
            [((edge, state.version), partial(self._recount, edge, rule, state.version))
             for (edge, rule), state, figure in zip(edges, states, known, strict=True) if figure is None]))
        return [figure if figure is not None else next(recounted) for figure in known]

    async def _recount(self, edge: Edge, rule: MetricRule, version: int) -> EdgeFigure:
        """The edge folded from the events on record read after `version` was: exact while it is current.
        A caller that found no figure may start its recount just after another one kept it: read first."""
        [state] = await self.edges.states([edge])
        if state.figure is not None:
            return state.figure
        rollup, values = Rollup(), set[str]()
        wanted = EventFilter(edge.customer_id, (edge.event_name,), start=edge.period.start, end=edge.period.end)
        async for chunk in self.record.tally(edge.mode, wanted, rule.aggregation_property):
            # A few distinct values fold in microseconds; many (a `unique` property) would hold the loop.
            more, seen = (fold_tally(rule, chunk) if len(chunk) <= _FOLD_INLINE
                          else await asyncio.to_thread(fold_tally, rule, chunk))
            rollup, values = rollup.merge(more), values | seen
        figure = EdgeFigure(rollup, frozenset(values))
        if self.rules.worth_keeping(rollup):
            await self.edges.keep(edge, version, figure)
        return figure

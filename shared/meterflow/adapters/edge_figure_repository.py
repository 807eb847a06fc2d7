"""SQL for the edge figures (domain/edge_figures.py): each edge's hour version and kept figure in one
read, the keeping of a folded figure, and retention.

The versions are written by the record's own insert (`event_record_repository.py`), never here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

import asyncpg

from meterflow.adapters.postgres import Pool
from meterflow.domain.edge_figures import Edge, EdgeFigure, EdgeState, usable
from meterflow.domain.rollups import Rollup

_STATES = """
SELECT COALESCE(v.version, 0) AS version_now, f.version AS version_kept, f.events, f.valued, f.total,
       f.maximum, f.minimum, f.unbillable, f.distinct_values
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[],
            $7::timestamptz[]) WITH ORDINALITY AS e(mode, metric_id, customer_id, event_name, edge_start,
                                                   edge_end, hour, i)
LEFT JOIN record_hour_versions v
       ON (v.mode, v.customer_id, v.event_name, v.hour) = (e.mode, e.customer_id, e.event_name, e.hour)
LEFT JOIN edge_figures f
       ON (f.mode, f.metric_id, f.customer_id, f.edge_start, f.edge_end)
        = (e.mode, e.metric_id, e.customer_id, e.edge_start, e.edge_end)
ORDER BY e.i
"""
# A figure folded at an older version never replaces a newer one (two recounts may finish out of order).
_KEEP = """
INSERT INTO edge_figures (mode, metric_id, customer_id, edge_start, edge_end, version, events, valued, total,
                          maximum, minimum, unbillable, distinct_values)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (mode, metric_id, customer_id, edge_start, edge_end) DO UPDATE
SET version = excluded.version, events = excluded.events, valued = excluded.valued, total = excluded.total,
    maximum = excluded.maximum, minimum = excluded.minimum, unbillable = excluded.unbillable,
    distinct_values = excluded.distinct_values
WHERE edge_figures.version < excluded.version
"""


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _state(row: asyncpg.Record) -> EdgeState:
    if not usable(row["version_now"], row["version_kept"]):
        return EdgeState(row["version_now"], None)
    rollup = Rollup(row["events"], row["valued"], Decimal(row["total"]), _decimal(row["maximum"]),
                    _decimal(row["minimum"]), row["unbillable"])
    return EdgeState(row["version_now"], EdgeFigure(rollup, frozenset(row["distinct_values"])))


class EdgeFigureRepository:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def states(self, edges: Sequence[Edge]) -> list[EdgeState]:
        """Every edge's state in one round trip."""
        if not edges:
            return []
        rows = await self._pool.fetch(_STATES, [e.mode.value for e in edges], [e.metric_id for e in edges],
                                      [e.customer_id for e in edges], [e.event_name for e in edges],
                                      [e.period.start for e in edges], [e.period.end for e in edges],
                                      [e.hour for e in edges])
        return [_state(row) for row in rows]

    async def keep(self, edge: Edge, version: int, figure: EdgeFigure) -> None:
        r = figure.rollup
        await self._pool.execute(
            _KEEP, edge.mode.value, edge.metric_id, edge.customer_id, edge.period.start, edge.period.end, version,
            r.events, r.valued, str(r.total), None if r.maximum is None else str(r.maximum),
            None if r.minimum is None else str(r.minimum), r.unbillable, sorted(figure.values))

    async def forget_before(self, cutoff: datetime) -> int:
        """Retention, beside the record's: the figures and versions of hours before `cutoff` go together
        (a version counted again from zero must never meet a figure kept at the old count)."""
        async with self._pool.acquire() as connection, connection.transaction():
            figures = await connection.execute("DELETE FROM edge_figures WHERE edge_start < $1", cutoff)
            await connection.execute("DELETE FROM record_hour_versions WHERE hour < $1", cutoff)
        return int(figures.split()[-1])

"""Usage to the second for a process with no caller to answer 503, wired once for the services that need
it: the closer (period close), the ops commands and the processor (alert evaluation)."""

from __future__ import annotations

from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.edge_figure_repository import EdgeFigureRepository
from meterflow.adapters.event_record_repository import EventRecordRepository
from meterflow.adapters.postgres import Pool
from meterflow.adapters.usage_store import UsageStore
from meterflow.application.edge_recounts import EdgeRecounts, RecountLimits
from meterflow.application.exact_usage import ExactUsage
from meterflow.clock import Clock
from meterflow.domain.edge_figures import EdgeFigure
from meterflow.observability import count_recount
from meterflow.settings import Settings


def waiting_usage(pool: Pool, rollups: UsageStore, catalog: CatalogRepository, settings: Settings,
                  clock: Clock) -> ExactUsage:
    """It waits for every edge fold it needs, two at a time (docs/usage-edges.md)."""
    recounts = EdgeRecounts[EdgeFigure](RecountLimits(slots=2), count_recount)
    return ExactUsage(rollups, EventRecordRepository(pool), catalog, EdgeFigureRepository(pool), recounts,
                      settings.edge_rules, clock)

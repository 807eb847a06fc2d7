"""The small ports use cases take. Adapters satisfy them structurally (no import of this module needed);
unit tests hand in fakes, and the contract suites in tests/ check the fakes against the real adapters."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from meterflow.domain.catalog import Metric, Plan
from meterflow.domain.modes import Mode
from meterflow.domain.usage import PeriodUsage, UsageQuery


class CatalogReader(Protocol):
    """Plans and metrics by id, within one mode (unknown ids are simply absent)."""

    async def plans_by_id(self, mode: Mode, ids: Iterable[str]) -> dict[str, Plan]: ...

    async def metrics_by_id(self, mode: Mode, ids: Iterable[str]) -> dict[str, Metric]: ...


class UsageReader(Protocol):
    """Period figures for many (metric, customer, period) at once, in the order asked."""

    async def usage(self, queries: Sequence[UsageQuery]) -> list[PeriodUsage]: ...

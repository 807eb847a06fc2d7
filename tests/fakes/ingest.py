"""In-memory fakes of the ingest use case's ports, for unit tests only; tests/integration/
test_ingest_ports_contract.py runs one contract suite against these and the real adapters."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from meterflow.domain.errors import Unavailable
from meterflow.domain.events import Event
from meterflow.domain.looked_up_keys import LookedUpKeys
from meterflow.domain.modes import Mode


@dataclass
class Directory:
    customers: dict[Mode, set[str]]

    async def existing_customer_ids(self, mode: Mode, ids: Iterable[str]) -> set[str]:
        return set(ids) & self.customers.get(mode, set())


@dataclass
class Precheck:
    """Keys counted (`known`) or remembered after an acknowledgement."""

    known: set[tuple[Mode, str]] = field(default_factory=set)
    remembered: list[tuple[Mode, str]] = field(default_factory=list)

    async def already_known(self, mode: Mode, idempotency_keys: Sequence[str]) -> LookedUpKeys:
        return LookedUpKeys({key for key in idempotency_keys
                             if (mode, key) in self.known or (mode, key) in self.remembered})

    async def remember(self, mode: Mode, idempotency_keys: Sequence[str], now: datetime,
                       looked_up: LookedUpKeys | None = None) -> None:
        self.remembered += [(mode, key) for key in idempotency_keys]


@dataclass
class Publisher:
    published: list[tuple[Mode, str]] = field(default_factory=list)
    away: bool = False

    async def publish(self, mode: Mode, events: Sequence[Event], received_at: datetime) -> None:
        if self.away:
            raise Unavailable("the spool is full")
        self.published += [(mode, e.idempotency_key) for e in events]


@dataclass
class Acknowledgements:
    """What the accounting was told: (mode, received_at, count) per durable batch."""

    told: list[tuple[Mode, datetime, int]] = field(default_factory=list)

    async def acknowledged(self, mode: Mode, received_at: datetime, count: int) -> None:
        self.told.append((mode, received_at, count))

"""Invoices: rating a period's quantities against a plan's prices (one line per price).

This is the single computation behind both a draft (`POST /v1/invoices/generate`) and a period close,
so the two can never disagree. Each line is rounded once by pricing; subtotal = Σ rounded lines;
total = subtotal (no tax in v1, billing.md §4).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from meterflow.domain.catalog import Plan
from meterflow.domain.modes import Mode
from meterflow.domain.money import round_money
from meterflow.domain.periods import Period
from meterflow.domain.pricing import describe, parse_price, price_line


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    FINALIZED = "finalized"
    VOID = "void"


@dataclass(frozen=True)
class LineItem:
    metric_id: str
    price_id: str
    description: str
    quantity: Decimal
    unit_price: Decimal | None
    amount: Decimal


@dataclass(frozen=True)
class Rating:
    lines: tuple[LineItem, ...]
    subtotal: Decimal

    @property
    def total(self) -> Decimal:
        return self.subtotal


@dataclass(frozen=True)
class Invoice:
    id: str
    mode: Mode
    customer_id: str
    subscription_id: str
    status: InvoiceStatus
    currency: str
    period: Period
    lines: tuple[LineItem, ...]
    subtotal: Decimal
    total: Decimal
    created_at: datetime
    finalized_at: datetime | None


def rate(plan: Plan, quantities: Mapping[str, Decimal], metric_names: Mapping[str, str]) -> Rating:
    """Price each of the plan's prices on its metric's quantity (missing quantity = 0)."""
    lines = []
    for stored in plan.prices:
        price = parse_price(stored.definition)
        quantity = quantities.get(stored.metric_id, Decimal(0))
        line = price_line(price, quantity, plan.currency)
        name = metric_names.get(stored.metric_id, stored.metric_id)
        lines.append(LineItem(stored.metric_id, stored.id, f"{name} ({describe(price)})", quantity,
                              line.unit_price, line.amount))
    subtotal = round_money(sum((line.amount for line in lines), Decimal(0)), plan.currency)
    return Rating(tuple(lines), subtotal)

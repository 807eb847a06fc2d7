"""Past periods' usage on a customer's console page, as their invoices bill it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from meterflow.application.console_customers import past_usage
from meterflow.domain.invoices import Invoice, InvoiceStatus, LineItem
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period

T0 = datetime(2026, 9, 1, tzinfo=UTC)


def _invoice(month: int, status: InvoiceStatus, *lines: tuple[str, str]) -> Invoice:
    start = T0 + timedelta(days=30 * month)
    items = tuple(LineItem(metric, f"price_{n}", metric, Decimal(quantity), None, Decimal(quantity))
                  for n, (metric, quantity) in enumerate(lines))
    return Invoice(f"inv_{month}_{status}", Mode.TEST, "cus_1", "sub_1", status, "NGN",
                   Period(start, start + timedelta(days=30)), items, Decimal(0), Decimal(0), start, None)


def test_each_metric_gets_its_quantity_per_ended_period_oldest_first_void_and_open_ones_left_out() -> None:
    invoices = [_invoice(2, InvoiceStatus.FINALIZED, ("met_calls", "7"), ("met_calls", "7"), ("met_gb", "1.5")),
                _invoice(0, InvoiceStatus.PAID, ("met_calls", "3")),
                _invoice(1, InvoiceStatus.VOID, ("met_calls", "99")),
                _invoice(3, InvoiceStatus.DRAFT, ("met_calls", "5"))]  # its period has not ended
    now = T0 + timedelta(days=95)
    [calls, gb] = past_usage(invoices, now)
    assert calls.metric_id == "met_calls" and calls.quantities == [Decimal(3), Decimal(7)]
    assert [p.start for p in calls.periods] == [T0, T0 + timedelta(days=60)]
    assert gb.metric_id == "met_gb" and gb.quantities == [Decimal("1.5")]

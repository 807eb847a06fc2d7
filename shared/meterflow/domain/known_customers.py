"""The one rule for an event whose customer does not exist: both ingest paths apply it, so an event refused
over HTTP (listed in `rejected`) is exactly one the processor would dead-letter from Kafka
(`unknown_customer`), with the same words."""

from __future__ import annotations

from collections.abc import Container

from meterflow.domain.errors import FieldError
from meterflow.domain.modes import Mode


def unknown_customer(customer_id: str, mode: Mode, known: Container[str]) -> FieldError | None:
    """The fault of an event naming `customer_id` in `mode`, or None when that customer exists. Customers
    are per mode: a live customer's id names nobody in test mode."""
    if customer_id in known:
        return None
    return FieldError("customer_id", f"no customer {customer_id!r} in {mode} mode")

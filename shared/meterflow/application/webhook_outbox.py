"""Recording webhook events: called by every use case that changes something a webhook reports, inside
that use case's unit of work, before it commits. So an event exists exactly when its change does: a
rollback or a kill -9 before the commit loses both, a commit keeps both (the outbox pattern).

Fan-out happens here, at write time: one delivery per endpoint of the event's mode that is enabled and
subscribed to its type when the change is written (domain `fan_out`). A change no endpoint receives is
not recorded at all: the outbox exists to deliver, and a period close with no endpoint pays one read.
Batched: one read of the endpoints and two inserts per call, whether it carries one event or a period
close's five hundred.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from meterflow.application.ports.unit_of_work import WebhookOutboxStore
from meterflow.domain.alerts import AlertFiring
from meterflow.domain.catalog import Customer, Subscription
from meterflow.domain.invoices import Invoice, InvoiceStatus
from meterflow.domain.payments import Transaction
from meterflow.domain.presentation import (
    alert_json,
    customer_json,
    invoice_json,
    job_json,
    ledger_entry_json,
    subscription_json,
    transaction_json,
    wallet_json,
)
from meterflow.domain.replay import ReplayJob
from meterflow.domain.wallets import Direction, WalletMovement
from meterflow.domain.webhooks import EventType, WebhookEvent, build_event, fan_out, receivers, subscription_event

Subject = Invoice | Subscription | Customer | ReplayJob | Transaction | AlertFiring | WalletMovement
Change = tuple[EventType, Subject]


def _object(subject: Subject, org_id: str) -> tuple[str, dict[str, Any]]:
    """The object under `data`, named and shown as the API shows it."""
    if isinstance(subject, Invoice):
        return "invoice", invoice_json(subject, org_id)
    if isinstance(subject, Subscription):
        return "subscription", subscription_json(subject, org_id)
    if isinstance(subject, Customer):
        return "customer", customer_json(subject, org_id)
    if isinstance(subject, Transaction):
        return "transaction", transaction_json(subject)
    if isinstance(subject, AlertFiring):  # the alert, with the one state that fired
        return "alert", alert_json(subject.alert, org_id, (subject.state,))
    if isinstance(subject, WalletMovement):  # as the credit or debit call answers it
        return "transaction", {"wallet": wallet_json(subject.wallet, org_id),
                               "ledger_entries": [ledger_entry_json(e, org_id) for e in subject.entries]}
    return "job", job_json(subject)


async def record_webhooks(store: WebhookOutboxStore, org_id: str, changes: Sequence[Change],
                          at: datetime) -> list[WebhookEvent]:
    """Record one event per change, and its deliveries, in the caller's transaction."""
    if not changes:
        return []
    endpoints = await store.enabled_endpoints({subject.mode for _, subject in changes})
    received = [(t, s) for t, s in changes if receivers(endpoints, t, s.mode)]
    if not received:
        return []
    shown: dict[int, tuple[str, dict[str, Any]]] = {}  # one rendering per object, whatever its events
    events = [build_event(t, s.mode, *shown.setdefault(id(s), _object(s, org_id)), at) for t, s in received]
    await store.add(events, [d for event in events for d in fan_out(event, endpoints)])
    return events


def invoice_changes(created: Sequence[Invoice], written: Sequence[Invoice]) -> list[Change]:
    """What writing invoices reports: each new invoice is `invoice.created`, and each one written as
    finalized (new, or an open draft overwritten by period close or re-invoicing) `invoice.finalized`."""
    changes: list[Change] = [(EventType.INVOICE_CREATED, i) for i in created]
    return changes + [(EventType.INVOICE_FINALIZED, i) for i in written if i.status is InvoiceStatus.FINALIZED]


_STATUS_EVENTS = {InvoiceStatus.FINALIZED: EventType.INVOICE_FINALIZED, InvoiceStatus.PAID: EventType.INVOICE_PAID,
                  InvoiceStatus.VOID: EventType.INVOICE_VOIDED,
                  InvoiceStatus.UNCOLLECTIBLE: EventType.INVOICE_UNCOLLECTIBLE}


def invoice_status_change(invoice: Invoice) -> list[Change]:
    event = _STATUS_EVENTS.get(invoice.status)
    return [(event, invoice)] if event else []


def wallet_change(movement: WalletMovement) -> list[Change]:
    event = EventType.WALLET_CREDITED if movement.direction is Direction.CREDIT else EventType.WALLET_DEBITED
    return [(event, movement)]


def subscription_changes(pairs: Sequence[tuple[Subscription | None, Subscription]]) -> list[Change]:
    """(before, after) pairs → the events their change of status reports (before None: created)."""
    changes: list[Change] = []
    for before, after in pairs:
        event = subscription_event(before.status if before else None, after.status)
        if event is not None:
            changes.append((event, after))
    return changes

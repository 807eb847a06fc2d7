"""Each object as the API shows it (docs/api.md): the one rendering the gateway answers with and a webhook
event carries in its `data`, so a receiver's copy of an invoice equals `GET /v1/invoices/{id}` at the
time of the change. Pure: money and quantities as decimal strings, timestamps RFC 3339 in UTC."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from meterflow.domain.alerts import Alert, AlertState
from meterflow.domain.catalog import Customer, Metric, Plan, Subscription
from meterflow.domain.events import format_timestamp
from meterflow.domain.invoices import Invoice
from meterflow.domain.modes import Mode
from meterflow.domain.money import round_money
from meterflow.domain.payments import PaymentMethod, Transaction
from meterflow.domain.payout_accounts import PayoutAccount
from meterflow.domain.portal_tokens import PortalToken, portal_url
from meterflow.domain.replay import ReplayJob
from meterflow.domain.wallets import AccountType, LedgerEntry, Wallet


def decimal_text(value: Decimal | None) -> str | None:
    """Plain notation, never exponent (`1E+3`), exactly the digits the value carries."""
    return None if value is None else format(value, "f")


def timestamp_text(value: datetime | None) -> str | None:
    return None if value is None else format_timestamp(value)


_ts = timestamp_text


def _stamps(created_at: datetime, *changes: datetime | None) -> dict[str, str | None]:
    """`created_at`, and `updated_at` = the latest change known (the creation when there is none)."""
    return {"created_at": _ts(created_at), "updated_at": _ts(max([created_at, *(c for c in changes if c)]))}


def customer_json(c: Customer, org_id: str) -> dict[str, Any]:
    return {"id": c.id, "org_id": org_id, "external_id": c.external_id, "name": c.name, "email": c.email,
            "phone": c.phone, "metadata": c.metadata, **_stamps(c.created_at, c.updated_at)}


def metric_json(m: Metric, org_id: str) -> dict[str, Any]:
    return {"id": m.id, "org_id": org_id, "name": m.name, "event_name": m.event_name,
            "aggregation": m.aggregation.value, "aggregation_property": m.aggregation_property,
            "description": m.description, **_stamps(m.created_at, m.updated_at)}


def plan_json(p: Plan, org_id: str) -> dict[str, Any]:
    prices = [{**price.wire, "id": price.id, "plan_id": p.id, "metric_id": price.metric_id,
               **_stamps(p.created_at, p.updated_at)} for price in p.prices]
    return {"id": p.id, "org_id": org_id, "name": p.name, "description": p.description, "currency": p.currency,
            "plan_type": p.plan_type, "billing_period": p.billing_period.value,
            "trial_period_days": p.trial_period_days, "vat_rate": decimal_text(p.vat_rate),
            "prices": prices, **_stamps(p.created_at, p.updated_at)}


def subscription_json(s: Subscription, org_id: str) -> dict[str, Any]:
    return {"id": s.id, "org_id": org_id, "customer_id": s.customer_id, "plan_id": s.plan_id,
            "status": s.status, "start_date": _ts(s.anchor),
            "current_period_start": _ts(s.current_period.start), "current_period_end": _ts(s.current_period.end),
            "trial_ends_at": _ts(s.trial_ends_at), "cancel_at_period_end": s.cancel_at_period_end,
            "canceled_at": _ts(s.canceled_at), **_stamps(s.created_at, s.canceled_at, s.updated_at)}


def invoice_json(i: Invoice, org_id: str) -> dict[str, Any]:
    created = _ts(i.created_at)
    return {
        "id": i.id, "org_id": org_id, "customer_id": i.customer_id, "subscription_id": i.subscription_id,
        "status": i.status.value, "currency": i.currency, "period_start": _ts(i.period.start),
        "period_end": _ts(i.period.end),
        "line_items": [{"id": f"{i.id}_li{n}", "invoice_id": i.id, "metric_id": li.metric_id,
                        "price_id": li.price_id, "description": li.description,
                        "quantity": decimal_text(li.quantity), "unit_price": decimal_text(li.unit_price),
                        "amount": decimal_text(li.amount), "created_at": created}
                       for n, li in enumerate(i.lines)],
        "subtotal": decimal_text(i.subtotal), "vat_enabled": i.vat_enabled, "vat_rate": decimal_text(i.vat_rate),
        "vat_amount": decimal_text(i.vat_amount), "total": decimal_text(i.total),
        "finalized_at": _ts(i.finalized_at), "paid_at": _ts(i.paid_at), "provider_invoice_id": i.provider_invoice_id,
        "payment_status": i.payment_status.value, "amount_paid": decimal_text(round_money(i.amount_paid, i.currency)),
        "amount_due": decimal_text(round_money(i.amount_due, i.currency)),
        **_stamps(i.created_at, i.finalized_at, i.voided_at, i.paid_at),
    }


def job_json(job: ReplayJob) -> dict[str, Any]:
    return {"id": job.id, "status": job.status.value, "from_timestamp": format_timestamp(job.period.start),
            "to_timestamp": format_timestamp(job.period.end), "event_name": job.event_name,
            "is_test": job.mode is Mode.TEST, "events_total": job.events_total,
            "events_replayed": job.events_replayed, "error_message": job.error_message,
            "started_at": _ts(job.started_at), "completed_at": _ts(job.completed_at),
            "created_at": format_timestamp(job.created_at), "updated_at": format_timestamp(job.updated_at)}


def payment_method_json(m: PaymentMethod) -> dict[str, Any]:
    """Never the reusable token itself: whoever reads the API could charge the card with it."""
    return {"id": m.id, "customer_id": m.customer_id, "provider": m.provider.value, "brand": m.brand,
            "last4": m.last4, "exp_month": m.exp_month, "exp_year": m.exp_year, "email": m.email,
            "is_default": m.is_default, "is_test": m.mode is Mode.TEST, **_stamps(m.created_at, m.updated_at)}


def transaction_json(t: Transaction) -> dict[str, Any]:
    return {"id": t.id, "invoice_id": t.invoice_id, "payment_method_id": t.payment_method_id,
            "provider": t.provider.value, "reference": t.reference, "amount": decimal_text(t.amount),
            "currency": t.currency, "status": t.status.value, "failure_reason": t.failure_reason,
            "attempt": t.attempt, "next_attempt_at": _ts(t.next_attempt_at), "is_test": t.mode is Mode.TEST,
            **_stamps(t.created_at, t.updated_at)}


def _money(value: Decimal, currency: str) -> str | None:
    """A wallet figure in its currency's places (`0.00`, never `0`); exact, so writing it rounds nothing."""
    return decimal_text(round_money(value, currency))


def wallet_json(w: Wallet, org_id: str) -> dict[str, Any]:
    return {"id": w.id, "customer_id": w.customer_id, "org_id": org_id, "currency": w.currency,
            "balance": _money(w.balance, w.currency), "reserved_balance": _money(w.reserved_balance, w.currency),
            "is_test": w.mode is Mode.TEST, **_stamps(w.created_at, w.updated_at)}


def ledger_entry_json(e: LedgerEntry, org_id: str) -> dict[str, Any]:
    """`wallet_id` is set on the wallet's side only, null on the organisation's counter-account side."""
    return {"id": e.id, "org_id": org_id, "transaction_id": e.transaction_id,
            "wallet_id": e.wallet_id if e.account_type is AccountType.CUSTOMER_WALLET else None,
            "account_type": e.account_type.value, "account_id": e.account_id, "direction": e.direction.value,
            "amount": _money(e.amount, e.currency), "currency": e.currency, "description": e.description,
            "balance_before": _money(e.balance_before, e.currency),
            "balance_after": _money(e.balance_after, e.currency),
            "entry_type": e.entry_type.value, "reference_type": e.reference_type, "reference_id": e.reference_id,
            "idempotency_key": e.idempotency_key or "", "metadata": {}, "created_at": _ts(e.created_at)}


def payout_account_json(a: PayoutAccount, org_id: str) -> dict[str, Any]:
    return {"id": a.id, "customer_id": a.customer_id, "org_id": org_id, "account_name": a.account_name,
            "bank_name": a.bank_name, "bank_code": a.bank_code, "account_number": a.account_number,
            "mobile_money_number": a.mobile_money_number, "payout_method": a.payout_method.value,
            "currency": a.currency, "is_default": a.is_default, "metadata": a.metadata,
            **_stamps(a.created_at, a.updated_at)}


def portal_token_json(t: PortalToken, org_id: str, public_url: str, token: str | None = None) -> dict[str, Any]:
    """`token` and `portal_url` carry the link only when the token was just created (`token` given): only
    its hash is stored, so a listing shows them empty."""
    return {"id": t.id, "org_id": org_id, "customer_id": t.customer_id, "token": token or "", "label": t.label,
            "expires_at": _ts(t.expires_at), "revoked_at": _ts(t.revoked_at),
            "portal_url": portal_url(public_url, token) if token else "", **_stamps(t.created_at, t.updated_at)}


def alert_state_json(s: AlertState, subscription_id: str | None, wallet_id: str | None) -> dict[str, Any]:
    return {"threshold_index": s.threshold_index, "label": s.label, "value": decimal_text(s.value),
            "subscription_id": subscription_id, "wallet_id": wallet_id, "period_start": _ts(s.period_start),
            "observed": decimal_text(s.observed), "status": "acknowledged" if s.acknowledged_at else "triggered",
            "triggered_at": _ts(s.triggered_at), "acknowledged_at": _ts(s.acknowledged_at)}


def alert_json(a: Alert, org_id: str, states: tuple[AlertState, ...] | None = None) -> dict[str, Any]:
    """`states`: the alert's own by default; a webhook shows the one it reports."""
    on_wallet = a.type == "wallet_balance_dropped"
    return {"id": a.id, "org_id": org_id, "type": a.type.value, "scope": a.scope.value, "scope_id": a.scope_id,
            "metric_id": a.metric_id, "currency": a.currency,
            "thresholds": [{"value": decimal_text(t.value), "label": t.label} for t in a.thresholds],
            "require_acknowledgment": a.require_acknowledgment, "status": "enabled" if a.enabled else "disabled",
            "is_test": a.mode is Mode.TEST,
            "states": [alert_state_json(s, None if on_wallet else s.subject_id, s.subject_id if on_wallet else None)
                       for s in (a.states if states is None else states)],
            **_stamps(a.created_at, a.updated_at)}

"""Opaque, prefixed ids (`cus_…`, `inv_…`): the prefix tells a reader what an id names."""

import secrets
from enum import StrEnum


class IdKind(StrEnum):
    CUSTOMER = "cus"
    METRIC = "met"
    PLAN = "plan"
    PRICE = "price"
    SUBSCRIPTION = "sub"
    INVOICE = "inv"
    API_KEY = "key"
    REPLAY_JOB = "job"
    WEBHOOK_ENDPOINT = "whe"
    WEBHOOK_EVENT = "evt"
    WEBHOOK_DELIVERY = "whd"
    PAYMENT_METHOD = "pm"
    TRANSACTION = "txn"
    WALLET = "wal"
    WALLET_TRANSACTION = "wtx"
    LEDGER_ENTRY = "led"
    PAYOUT_ACCOUNT = "pac"
    ALERT = "alr"
    PORTAL_TOKEN = "ptk"


def new_id(kind: IdKind) -> str:
    return f"{kind}_{secrets.token_urlsafe(12).replace('-', 'x').replace('_', 'y')}"

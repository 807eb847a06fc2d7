"""What a Monigo client decodes, written from Monigo's Go client (docs/monigo.md): for each object, every key it reads
and the JSON type that decodes into its Go field. `check` fails on a missing key or a type mismatch (a
Go client would get a decode error, or silently a zero value for a missing envelope)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")

# str: string; ts: RFC 3339 string; int: JSON integer; num: JSON number; dec: decimal string;
# bool; any: any JSON; a trailing "?" allows null (Go's zero value for an optional field).
CUSTOMER = {"id": "str", "org_id": "str", "external_id": "str", "name": "str", "email": "str?", "phone": "str?",
            "metadata": "any", "created_at": "ts", "updated_at": "ts"}
METRIC = {"id": "str", "org_id": "str", "name": "str", "event_name": "str", "aggregation": "str",
          "aggregation_property": "str?", "description": "str?", "created_at": "ts", "updated_at": "ts"}
PRICE = {"id": "str", "plan_id": "str", "metric_id": "str", "model": "str", "unit_price": "dec?", "tiers": "any",
         "created_at": "ts", "updated_at": "ts"}
PLAN = {"id": "str", "org_id": "str", "name": "str", "description": "str?", "currency": "str", "plan_type": "str",
        "billing_period": "str", "trial_period_days": "int", "prices": [PRICE], "created_at": "ts",
        "updated_at": "ts"}
SUBSCRIPTION = {"id": "str", "org_id": "str", "customer_id": "str", "plan_id": "str", "status": "str",
                "current_period_start": "ts", "current_period_end": "ts", "trial_ends_at": "ts?",
                "created_at": "ts", "updated_at": "ts"}
ROLLUP = {"id": "str", "org_id": "str", "customer_id": "str", "metric_id": "str", "period_start": "ts",
          "period_end": "ts", "aggregation": "str", "value": "num", "event_count": "int", "last_event_at": "ts?",
          "is_test": "bool", "created_at": "ts", "updated_at": "ts"}
LINE_ITEM = {"id": "str", "invoice_id": "str", "metric_id": "str", "price_id": "str?", "description": "str",
             "quantity": "dec", "unit_price": "dec?", "amount": "dec", "created_at": "ts"}
INVOICE = {"id": "str", "org_id": "str", "customer_id": "str", "subscription_id": "str", "status": "str",
           "currency": "str", "period_start": "ts", "period_end": "ts", "finalized_at": "ts?", "paid_at": "ts?",
           "provider_invoice_id": "str?", "subtotal": "dec", "total": "dec", "vat_enabled": "bool",
           "vat_rate": "dec?", "vat_amount": "dec?", "line_items": [LINE_ITEM], "created_at": "ts",
           "updated_at": "ts"}
WALLET = {"id": "str", "customer_id": "str", "org_id": "str", "currency": "str", "balance": "dec",
          "reserved_balance": "dec", "created_at": "ts", "updated_at": "ts"}
LEDGER_ENTRY = {"id": "str", "org_id": "str", "transaction_id": "str", "wallet_id": "str?", "account_type": "str",
                "account_id": "str", "direction": "str", "amount": "dec", "currency": "str", "balance_before": "dec",
                "balance_after": "dec", "description": "str", "entry_type": "str", "reference_type": "str",
                "reference_id": "str", "idempotency_key": "str", "metadata": "any", "created_at": "ts"}
WALLET_OPERATION = {"wallet": WALLET, "ledger_entries": [LEDGER_ENTRY]}
TRANSACTIONS = {"transactions": [LEDGER_ENTRY], "total": "int", "limit": "int", "offset": "int"}
PAYOUT_ACCOUNT = {"id": "str", "customer_id": "str", "org_id": "str", "account_name": "str", "bank_name": "str?",
                  "bank_code": "str?", "account_number": "str?", "mobile_money_number": "str?",
                  "payout_method": "str", "currency": "str", "is_default": "bool", "metadata": "any",
                  "created_at": "ts", "updated_at": "ts"}
PORTAL_TOKEN = {"id": "str", "org_id": "str", "customer_id": "str", "token": "str", "label": "str",
                "expires_at": "ts?", "revoked_at": "ts?", "created_at": "ts", "updated_at": "ts", "portal_url": "str"}
INGEST = {"ingested": ["str"], "duplicates": ["str"]}
ERROR = {"error": "str", "details": "details"}


def _optional(kind: Any) -> bool:
    return isinstance(kind, str) and (kind.endswith("?") or kind == "any")


def _fault(value: Any, kind: Any, path: str) -> str | None:
    if isinstance(kind, dict):
        if not isinstance(value, dict):
            return f"{path}: an object expected, got {value!r}"
        # An optional key may be absent (Go decodes it to its zero value); any other must be there.
        missing = [key for key, sub in kind.items() if key not in value and not _optional(sub)]
        if missing:
            return f"{path}: missing {missing}"
        return next((f for key, sub in kind.items() if key in value
                     and (f := _fault(value[key], sub, f"{path}.{key}"))), None)
    if isinstance(kind, list):
        if not isinstance(value, list):
            return f"{path}: an array expected, got {value!r}"
        return next((f for i, item in enumerate(value) if (f := _fault(item, kind[0], f"{path}[{i}]"))), None)
    optional = kind.endswith("?")
    if value is None:
        return None if optional else f"{path}: null where {kind} is required"
    ok: dict[str, Callable[[Any], object]] = {
          "str": lambda v: isinstance(v, str), "ts": lambda v: isinstance(v, str) and RFC3339.match(v),
          "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
          "num": lambda v: isinstance(v, int | Decimal) and not isinstance(v, bool),
          "dec": lambda v: isinstance(v, str) and DECIMAL.match(v), "bool": lambda v: isinstance(v, bool),
          "any": lambda v: True,
          "details": lambda v: isinstance(v, dict) and all(isinstance(m, str) for m in v.values())}
    return None if ok[kind.rstrip("?")](value) else f"{path}: {kind} expected, got {value!r}"


def decoded(response: httpx.Response) -> Any:
    """The body as a decoder sees it: integers stay integers, other numbers keep their digits."""
    return json.loads(response.text, parse_float=Decimal)


def check(response: httpx.Response, envelope: str | None, shape: Any, status: int = 200) -> Any:
    """The object under `envelope` (None: the bare body), with every key and type a Monigo client reads."""
    assert response.status_code == status, response.text
    body = decoded(response)
    value = body if envelope is None else body.get(envelope)
    fault = _fault(value, shape, envelope or "body")
    assert fault is None, fault
    return value


def check_list(response: httpx.Response, plural: str, shape: Any) -> list[Any]:
    """`{"<plural>": [...], "count": int}` (plus meterflow's `has_more`)."""
    body = decoded(response)
    assert response.status_code == 200, response.text
    assert isinstance(body.get("count"), int) and body["count"] == len(body[plural]), body
    assert isinstance(body.get("has_more"), bool)
    items: list[Any] = check(response, plural, [shape])
    return items

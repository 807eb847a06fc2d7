"""Payout accounts (docs/wallets.md, "Payout accounts"): where a customer is paid to, by bank transfer or
mobile money. Pure: the rules an account must satisfy whatever created or changed it.

Invariants:
- a `bank_transfer` account has an `account_number` and a `bank_code`; a `mobile_money` account has a
  `mobile_money_number` in E.164 (`+233241234567`);
- `bank_code` and `mobile_money_number` are fixed once created (a different destination is a new account);
- at most one default account per customer and currency (the store's unique index is the final guard).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from meterflow.domain.errors import FieldError
from meterflow.domain.modes import Mode

_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_ACCOUNT_NUMBER = re.compile(r"[0-9A-Za-z-]{4,34}")  # NUBAN (10 digits) up to an IBAN's 34 characters
# What an update may change: the destination itself (bank code, mobile number) is not among them.
UPDATABLE = ("account_name", "payout_method", "bank_name", "account_number", "currency", "is_default", "metadata")


class PayoutMethod(StrEnum):
    BANK_TRANSFER = "bank_transfer"
    MOBILE_MONEY = "mobile_money"


@dataclass(frozen=True)
class PayoutAccount:
    id: str
    mode: Mode
    customer_id: str
    account_name: str
    payout_method: PayoutMethod
    currency: str
    is_default: bool
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    bank_name: str | None = None
    bank_code: str | None = None
    account_number: str | None = None
    mobile_money_number: str | None = None


def checked(account: PayoutAccount) -> PayoutAccount:
    """The account if its method has what it needs to be paid to; else a 400 naming the missing field."""
    if account.payout_method is PayoutMethod.BANK_TRANSFER:
        for name in ("account_number", "bank_code"):
            if not getattr(account, name):
                raise FieldError(name, "is required for payout_method bank_transfer")
        if not _ACCOUNT_NUMBER.fullmatch(account.account_number or ""):
            raise FieldError("account_number", "must be 4 to 34 letters, digits or dashes")
    elif not _E164.fullmatch(account.mobile_money_number or ""):
        raise FieldError("mobile_money_number", "is required for payout_method mobile_money, in E.164 "
                                                "such as +233241234567")
    return account


def updated(account: PayoutAccount, changes: dict[str, Any], at: datetime) -> PayoutAccount:
    """The account with the updatable fields given changed, checked again as a whole."""
    given = {name: value for name, value in changes.items() if name in UPDATABLE}
    return checked(replace(account, **given, updated_at=at))

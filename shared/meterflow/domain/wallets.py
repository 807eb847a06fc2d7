"""Prepaid wallets on a double-entry ledger (docs/wallets.md): what an amount may be, what a credit or a
debit does to a balance, and the two ledger entries that record it. Pure: the time and the ids are given.

Invariants:
- an amount is a positive decimal that is a whole number of the currency's minor units (`1.005` NGN is
  refused, never rounded: a wallet holds exactly what was paid in);
- every movement is one transaction of exactly two entries of the same amount, one debit and one credit:
  the customer's wallet and the organisation's counter-account, so Σ debits = Σ credits always;
- a debit never takes the balance below `-overdraft_limit` (0 unless ops allowed an overdraft for that
  wallet); the database checks the same bound as the last guard.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from meterflow.domain.errors import Conflict, FieldError
from meterflow.domain.modes import Mode
from meterflow.domain.money import is_known_currency, minor_unit_exponent
from meterflow.domain.quantities import QUANTITY_CONTEXT, decimal_places

# Plain decimal text only: no sign, no exponent (`1E+3`), no blanks; at most 18 integer digits.
_AMOUNT = re.compile(r"\d{1,18}(\.\d{1,18})?")


class EntryType(StrEnum):
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    USAGE = "usage"
    REFUND = "refund"
    ADJUSTMENT = "adjustment"


class Direction(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"


class AccountType(StrEnum):
    CUSTOMER_WALLET = "customer_wallet"
    ORGANISATION = "organisation"


# What each direction may record: money comes in as a deposit, a refund or an adjustment, and goes out as
# a withdrawal, usage or an adjustment. The first is the default when the request names none.
ENTRY_TYPES: dict[Direction, tuple[EntryType, ...]] = {
    Direction.CREDIT: (EntryType.DEPOSIT, EntryType.REFUND, EntryType.ADJUSTMENT),
    Direction.DEBIT: (EntryType.WITHDRAWAL, EntryType.USAGE, EntryType.ADJUSTMENT),
}


@dataclass(frozen=True)
class Wallet:
    id: str
    mode: Mode
    customer_id: str
    currency: str
    balance: Decimal
    reserved_balance: Decimal
    overdraft_limit: Decimal
    created_at: datetime
    updated_at: datetime

    @property
    def available(self) -> Decimal:
        """What a debit may take without an overdraft: the balance less what is held for an invoice."""
        return self.balance - self.reserved_balance


@dataclass(frozen=True)
class Movement:
    """A credit or a debit as asked for, already checked (`movement`)."""

    direction: Direction
    amount: Decimal
    entry_type: EntryType
    description: str = ""
    reference_type: str = ""
    reference_id: str = ""
    idempotency_key: str | None = None


@dataclass(frozen=True)
class LedgerEntry:
    id: str
    mode: Mode
    transaction_id: str
    wallet_id: str  # the wallet the transaction moves, on both of its entries
    account_type: AccountType
    account_id: str
    direction: Direction
    amount: Decimal
    currency: str
    balance_before: Decimal
    balance_after: Decimal
    description: str
    entry_type: EntryType
    reference_type: str
    reference_id: str
    idempotency_key: str | None
    created_at: datetime


@dataclass(frozen=True)
class WalletMovement:
    """What `wallet.credited` and `wallet.debited` report: the wallet after a transaction, and its entries."""

    wallet: Wallet
    entries: tuple[LedgerEntry, ...]

    @property
    def mode(self) -> Mode:
        return self.wallet.mode

    @property
    def direction(self) -> Direction:
        return wallet_side(list(self.entries)).direction


class InsufficientBalance(Conflict):
    """A debit larger than the wallet can pay: 409, with the balance the caller can still take."""

    def __init__(self, wallet: Wallet, amount: Decimal) -> None:
        super().__init__(f"Insufficient wallet balance: {wallet.available} {wallet.currency} available, "
                         f"{amount} asked", "amount")
        self.balance = wallet.balance


def parse_amount(text: object, currency: str, *, param: str = "amount", allow_zero: bool = False) -> Decimal:
    """A movement's amount (or an overdraft limit, which may be 0): decimal text, positive, exact in the
    currency's minor unit."""
    if not isinstance(text, str) or not _AMOUNT.fullmatch(text):
        raise FieldError(param, "must be a positive decimal string such as \"100.50\"")
    amount = Decimal(text)
    if amount == 0 and not allow_zero:
        raise FieldError(param, "must be greater than 0")
    places = minor_unit_exponent(currency)
    if decimal_places(amount) > places:
        raise FieldError(param, f"{currency} has {places} decimal places: {text} is not a whole number "
                                "of its minor unit")
    return amount.quantize(Decimal(1).scaleb(-places))


def check_currency(code: str) -> str:
    if not is_known_currency(code.upper()):
        raise FieldError("currency", f"{code!r} is not an ISO 4217 currency code")
    return code.upper()


def movement(wallet: Wallet, direction: Direction, amount: object, currency: str, entry_type: str,
             description: str = "", reference_type: str = "", reference_id: str = "",
             idempotency_key: str = "") -> Movement:
    """A request checked against its wallet. Empty strings mean "not given" (Monigo's Go client always
    sends every field): the wallet's currency, the direction's default entry type, no idempotency key."""
    if currency and currency.upper() != wallet.currency:
        raise FieldError("currency", f"must be the wallet's currency, {wallet.currency}")
    allowed = ENTRY_TYPES[direction]
    if entry_type and entry_type not in allowed:
        raise FieldError("entry_type", f"a {direction.value} records one of {', '.join(allowed)}")
    return Movement(direction, parse_amount(amount, wallet.currency), EntryType(entry_type or allowed[0]),
                    description, reference_type, reference_id, idempotency_key or None)


def same_request(entries: list[LedgerEntry], asked: Movement) -> bool:
    """Whether a transaction already on record under the idempotency key is the one asked for again."""
    mine = wallet_side(entries)
    return mine.direction is asked.direction and mine.amount == asked.amount


def wallet_side(entries: list[LedgerEntry]) -> LedgerEntry:
    return next(e for e in entries if e.account_type is AccountType.CUSTOMER_WALLET)


def apply(wallet: Wallet, asked: Movement, org_id: str, transaction_id: str, entry_ids: tuple[str, str],
          at: datetime) -> tuple[Wallet, list[LedgerEntry]]:
    """The wallet after the movement, and its two entries (wallet first). The counter-account's balance is
    kept per wallet, as the mirror of the wallet's (what the organisation owes on it), so that movements
    on different wallets never wait for one shared row."""
    sign = 1 if asked.direction is Direction.CREDIT else -1
    # Exact whatever the caller's decimal context: 80 digits hold any balance a ledger can reach, and the
    # context traps rather than rounds if one ever could not be held.
    after = QUANTITY_CONTEXT.add(wallet.balance, asked.amount.copy_sign(Decimal(sign)))
    if sign < 0 and after - wallet.reserved_balance < -wallet.overdraft_limit:
        raise InsufficientBalance(wallet, asked.amount)
    other = Direction.DEBIT if asked.direction is Direction.CREDIT else Direction.CREDIT

    def entry(entry_id: str, account: AccountType, account_id: str, direction: Direction,
              before: Decimal, balance_after: Decimal) -> LedgerEntry:
        return LedgerEntry(entry_id, wallet.mode, transaction_id, wallet.id, account, account_id, direction,
                           asked.amount, wallet.currency, before, balance_after, asked.description,
                           asked.entry_type, asked.reference_type, asked.reference_id, asked.idempotency_key, at)

    entries = [entry(entry_ids[0], AccountType.CUSTOMER_WALLET, wallet.id, asked.direction, wallet.balance, after),
               entry(entry_ids[1], AccountType.ORGANISATION, org_id, other, -wallet.balance, -after)]
    return replace(wallet, balance=after, updated_at=at), entries


def invoice_key(invoice_id: str) -> str:
    """The idempotency key of a wallet's payment of an invoice: one payment per invoice, ever."""
    return f"invoice:{invoice_id}"


def invoice_payment(wallet: Wallet, invoice_id: str, total: Decimal) -> Movement | None:
    """What a wallet pays of a finalized invoice: its available balance, up to the total, as a `usage`
    debit referencing the invoice; the key derived from the invoice makes it apply once whatever retries."""
    paid = min(max(wallet.available, Decimal(0)), total)
    if paid <= 0:
        return None
    return Movement(Direction.DEBIT, paid, EntryType.USAGE, f"Invoice {invoice_id}", "invoice", invoice_id,
                    invoice_key(invoice_id))

"""Collecting an invoice through a payment provider: pure rules, no I/O, no clock (time is an argument).

Invariants:
- the amount sent is the invoice total converted exactly: Paystack in integer subunits (kobo, pesewas,
  cents), Flutterwave in major units as a decimal; a currency the provider does not take, or a total
  finer than the currency's minor unit, is refused naming the field, never rounded;
- an attempt's reference is derived from the invoice and the attempt number, so the same attempt always
  asks the provider about the same charge, and two attempts never share one;
- an attempt's outcome, once final (succeeded or failed), never changes; only a pending or unknown one
  moves, and only to what the provider says about its reference;
- dunning: after the n-th declined attempt the next is due after the n-th wait of the schedule; after
  the last wait's attempt is declined too, the invoice is uncollectible.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from meterflow.domain.currencies import MINOR_UNIT_EXPONENTS
from meterflow.domain.errors import Conflict, FieldError
from meterflow.domain.invoices import Invoice, InvoiceStatus, PaymentStatus
from meterflow.domain.modes import Mode


class Provider(StrEnum):
    PAYSTACK = "paystack"
    FLUTTERWAVE = "flutterwave"


# Paystack quotes every amount in a currency's subunit (x100): only two-decimal currencies are taken here,
# where that subunit is the ISO minor unit. Flutterwave takes major units in each currency it lists.
SUPPORTED_CURRENCIES: dict[Provider, frozenset[str]] = {
    Provider.PAYSTACK: frozenset({"NGN", "GHS", "ZAR", "USD", "KES", "EGP"}),
    Provider.FLUTTERWAVE: frozenset({"NGN", "USD", "EUR", "GBP", "GHS", "KES", "ZAR", "UGX", "TZS", "RWF", "XAF",
                                     "XOF", "ZMW", "EGP", "MWK"}),
}

class SetupCurrency(StrEnum):
    """The currencies a hosted checkout that saves a card can charge its setup amount in."""

    NGN = "NGN"
    GHS = "GHS"
    ZAR = "ZAR"
    USD = "USD"
    KES = "KES"
    EGP = "EGP"
    EUR = "EUR"
    GBP = "GBP"


# What the hosted checkout that saves a card charges (the providers need a payment to tokenize a card).
SETUP_AMOUNTS: dict[SetupCurrency, Decimal] = {
    SetupCurrency.NGN: Decimal("50.00"), SetupCurrency.GHS: Decimal("1.00"), SetupCurrency.ZAR: Decimal("5.00"),
    SetupCurrency.USD: Decimal("1.00"), SetupCurrency.KES: Decimal("10.00"), SetupCurrency.EGP: Decimal("10.00"),
    SetupCurrency.EUR: Decimal("1.00"), SetupCurrency.GBP: Decimal("1.00")}

DEFAULT_DUNNING = "1d,3d,5d"
_WAIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3_600, "d": 86_400}


class TransactionStatus(StrEnum):
    PENDING = "pending"  # stored, the provider may or may not have been called yet
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"  # the provider was called and did not answer (timeout, 5xx): verify before anything


FINAL = frozenset({TransactionStatus.SUCCEEDED, TransactionStatus.FAILED})


class ProviderVerdict(StrEnum):
    """What a provider says about one reference."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PENDING = "pending"  # still being processed on the provider's side: ask again later
    NOT_FOUND = "not_found"  # the provider never received a charge with this reference


@dataclass(frozen=True)
class CardDetails:
    """A reusable method as a provider describes it (`token`: Paystack authorization_code, Flutterwave token)."""

    token: str
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None
    email: str | None
    reusable: bool = True


@dataclass(frozen=True)
class ProviderOutcome:
    verdict: ProviderVerdict
    reason: str | None = None  # the provider's words on a decline
    provider_transaction_id: str | None = None
    card: CardDetails | None = None


@dataclass(frozen=True)
class PaymentMethod:
    id: str
    mode: Mode
    customer_id: str
    provider: Provider
    token: str
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None
    email: str
    is_default: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Transaction:
    """One attempt to charge an invoice."""

    id: str
    mode: Mode
    invoice_id: str
    payment_method_id: str
    provider: Provider
    reference: str
    amount: Decimal
    currency: str
    status: TransactionStatus
    attempt: int
    created_at: datetime
    updated_at: datetime
    failure_reason: str | None = None
    next_attempt_at: datetime | None = None
    provider_transaction_id: str | None = None


@dataclass(frozen=True)
class Claim:
    """An invoice with collection work due, leased to one worker until `lease_until`."""

    invoice_id: str
    mode: Mode
    payment_method_id: str | None  # asked for by ops; None: the customer's default
    due_at: datetime
    token: str
    lease_until: datetime


@dataclass(frozen=True)
class Setup:
    """A hosted checkout started to save a customer's card."""

    reference: str
    mode: Mode
    customer_id: str
    provider: Provider
    email: str
    authorization_url: str
    payment_method_id: str | None
    created_at: datetime


def supported(provider: Provider, currency: str) -> bool:
    return currency in SUPPORTED_CURRENCIES[provider]


def _check_currency(provider: Provider, currency: str) -> int:
    if not supported(provider, currency):
        raise FieldError("currency", f"{provider.value} does not collect {currency}; it takes "
                         + ", ".join(sorted(SUPPORTED_CURRENCIES[provider])))
    return MINOR_UNIT_EXPONENTS[currency]


def minor_units(amount: Decimal, currency: str) -> int:
    """`amount` in the currency's minor unit, exactly (2.50 USD → 250); a finer amount is refused."""
    exponent = MINOR_UNIT_EXPONENTS[currency]
    scaled = amount.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise FieldError("amount", f"{amount} {currency} is finer than the currency's minor unit")
    return int(scaled)


def provider_amount(provider: Provider, amount: Decimal, currency: str) -> int | Decimal:
    """What the provider's `amount` field carries: Paystack an integer of subunits, Flutterwave the major
    units as an exact decimal. FieldError naming `currency` or `amount` when it cannot be sent exactly."""
    exponent = _check_currency(provider, currency)
    if amount <= 0:
        raise FieldError("amount", "only a positive amount is charged")
    units = minor_units(amount, currency)
    if provider is Provider.PAYSTACK:
        return units
    return Decimal(units).scaleb(-exponent)


def attempt_reference(invoice_id: str, attempt: int) -> str:
    """`inv-abc-2` for the invoice's second attempt: letters, digits and `-` only (Paystack's rule for
    references), unique per attempt, and the same whenever that attempt is asked about again."""
    return f"{invoice_id.replace('_', '-')}-{attempt}"


def check_collectible(invoice: Invoice, plan_type: str) -> None:
    """Conflict unless the invoice is money the customer owes and still unpaid: a finalized (or, for a
    retry by ops, uncollectible) invoice of a `collection` plan that still owes something."""
    if plan_type != "collection":
        raise Conflict(f"Invoice {invoice.id} belongs to a {plan_type} plan: it is never charged to the customer")
    if invoice.status is not InvoiceStatus.FINALIZED:
        raise Conflict(f"Invoice {invoice.id} is {invoice.status.value}; only a finalized unpaid invoice is charged")
    if invoice.amount_due <= 0:  # a wallet may have paid part of the total at finalize
        raise Conflict(f"Invoice {invoice.id} owes {invoice.amount_due} of {invoice.total}: there is nothing to "
                       "charge")


def in_flight(attempts: Sequence[Transaction]) -> Transaction | None:
    """The attempt whose outcome is not known yet (at most one: a new one starts only after it is resolved)."""
    return next((a for a in reversed(attempts) if a.status not in FINAL), None)


def declines(attempts: Sequence[Transaction]) -> int:
    return sum(1 for a in attempts if a.status is TransactionStatus.FAILED)


def parse_schedule(text: str) -> tuple[timedelta, ...]:
    """`1d,3d,5d` (units s, m, h, d): the wait before each retry after a declined attempt."""
    waits = []
    for part in text.split(","):
        match = _WAIT.match(part)
        if not match:
            raise ValueError(f"dunning wait {part!r}: expected a number and a unit s, m, h or d (e.g. 1d)")
        waits.append(timedelta(seconds=float(match[1]) * _UNIT_SECONDS[match[2]]))
    return tuple(waits)


def next_retry(declined_so_far: int, now: datetime, schedule: Sequence[timedelta]) -> datetime | None:
    """When to try again after the `declined_so_far`-th decline; None once the schedule is used up."""
    if 1 <= declined_so_far <= len(schedule):
        return now + schedule[declined_so_far - 1]
    return None


@dataclass(frozen=True)
class Resolution:
    """What an attempt's verdict does: the attempt as it becomes, the invoice as it becomes (None: as it
    is), and when the invoice's next attempt is due (None: no more work for it)."""

    attempt: Transaction
    invoice: Invoice | None
    next_due: datetime | None


def resolve(attempt: Transaction, outcome: ProviderOutcome, invoice: Invoice, earlier_declines: int,
            schedule: Sequence[timedelta], now: datetime, recheck_after: timedelta) -> Resolution | None:
    """Apply a provider's verdict on an attempt whose outcome was not final; None when it changes nothing:
    the attempt is final already (repeated and late news are ignored, whatever they say), or the provider
    never received it (the caller sends it then, under the same reference)."""
    if attempt.status in FINAL or outcome.verdict is ProviderVerdict.NOT_FOUND:
        return None
    if outcome.verdict is ProviderVerdict.PENDING:
        return Resolution(attempt, None, now + recheck_after)
    if outcome.verdict is ProviderVerdict.SUCCEEDED:
        done = replace(attempt, status=TransactionStatus.SUCCEEDED, updated_at=now, failure_reason=None,
                       provider_transaction_id=outcome.provider_transaction_id, next_attempt_at=None)
        return Resolution(done, paid(invoice, attempt, now), None)
    retry_at = next_retry(earlier_declines + 1, now, schedule)
    failed = replace(attempt, status=TransactionStatus.FAILED, updated_at=now, next_attempt_at=retry_at,
                     failure_reason=outcome.reason or "declined by the provider",
                     provider_transaction_id=outcome.provider_transaction_id)
    if invoice.status is not InvoiceStatus.FINALIZED:
        return Resolution(failed, None, None)  # voided meanwhile (or paid elsewhere): dunning stops
    if retry_at is None:
        gave_up = replace(invoice, status=InvoiceStatus.UNCOLLECTIBLE, payment_status=PaymentStatus.FAILED)
        return Resolution(failed, gave_up, None)
    return Resolution(failed, replace(invoice, payment_status=PaymentStatus.FAILED), retry_at)


def paid(invoice: Invoice, attempt: Transaction, at: datetime) -> Invoice | None:
    """The invoice once this attempt's charge succeeded; None when its status no longer allows it (voided
    meanwhile: the money was still taken, and the transaction says so for ops to refund)."""
    if invoice.status not in (InvoiceStatus.FINALIZED, InvoiceStatus.UNCOLLECTIBLE):
        return None
    return replace(invoice, status=InvoiceStatus.PAID, paid_at=at, provider_invoice_id=attempt.reference,
                   payment_status=PaymentStatus.SUCCEEDED,
                   amount_paid=invoice.amount_paid + attempt.amount)  # a wallet's part included


@dataclass(frozen=True)
class ProviderNotice:
    """What a provider's webhook is about: its event id (for deduplication) and the reference it concerns.
    Never trusted as it stands: the reference is verified with the provider before anything is applied."""

    event_id: str
    reference: str

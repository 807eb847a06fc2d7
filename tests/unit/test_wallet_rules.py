"""The wallet rules (domain/wallets.py): exact amounts in the currency's minor unit, what a movement does
to the balance, the two balanced entries it records, the overdraft bound, and what a wallet pays of an
invoice."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from meterflow.domain.errors import FieldError
from meterflow.domain.modes import Mode
from meterflow.domain.wallets import (
    AccountType,
    Direction,
    EntryType,
    InsufficientBalance,
    Wallet,
    apply,
    invoice_payment,
    movement,
    parse_amount,
)

AT = datetime(2026, 3, 1, tzinfo=UTC)


def wallet(balance: str = "0", currency: str = "NGN", overdraft: str = "0", reserved: str = "0") -> Wallet:
    return Wallet("wal_1", Mode.TEST, "cus_1", currency, Decimal(balance), Decimal(reserved), Decimal(overdraft),
                  AT, AT)


@pytest.mark.parametrize(("text", "currency", "expected"), [
    ("100.50", "NGN", "100.50"), ("1", "NGN", "1.00"), ("1.000", "NGN", "1.00"), ("7", "JPY", "7"),
    ("0.125", "KWD", "0.125"), ("999999999999999999.99", "USD", "999999999999999999.99"),
])
def test_an_amount_is_kept_exactly_in_the_currency_places(text: str, currency: str, expected: str) -> None:
    assert str(parse_amount(text, currency)) == expected


@pytest.mark.parametrize(("text", "currency"), [
    ("1.005", "NGN"), ("0.5", "JPY"), ("-1.00", "NGN"), ("0", "NGN"), ("0.00", "USD"), ("1e3", "USD"),
    ("abc", "USD"), ("", "USD"), (" 1", "USD"), (100, "USD"), (None, "USD"), ("1" * 19, "USD"), ("NaN", "USD"),
])
def test_an_amount_outside_its_domain_is_a_400_naming_amount(text: object, currency: str) -> None:
    with pytest.raises(FieldError) as refused:
        parse_amount(text, currency)
    assert refused.value.param == "amount"


def test_a_credit_and_a_debit_each_record_two_balanced_entries_with_their_balances() -> None:
    credited, entries = apply(wallet(), movement(wallet(), Direction.CREDIT, "1000.00", "", ""), "org_1", "wtx_1",
                              ("led_1", "led_2"), AT)
    assert credited.balance == Decimal("1000.00")
    mine, org = entries
    assert (mine.account_type, mine.direction, mine.balance_before, mine.balance_after) == (
        AccountType.CUSTOMER_WALLET, Direction.CREDIT, Decimal(0), Decimal("1000.00"))
    assert (org.account_type, org.account_id, org.direction, org.balance_after) == (
        AccountType.ORGANISATION, "org_1", Direction.DEBIT, Decimal("-1000.00"))
    assert mine.amount == org.amount and mine.entry_type is EntryType.DEPOSIT
    debited, [out, _] = apply(credited, movement(credited, Direction.DEBIT, "300.25", "NGN", "usage"), "org_1",
                              "wtx_2", ("led_3", "led_4"), AT)
    assert (debited.balance, out.balance_before, out.balance_after, out.entry_type) == (
        Decimal("699.75"), Decimal("1000.00"), Decimal("699.75"), EntryType.USAGE)


def test_a_debit_beyond_the_available_balance_is_refused_with_the_balance() -> None:
    full = wallet("10.00", reserved="4.00")
    with pytest.raises(InsufficientBalance) as refused:
        apply(full, movement(full, Direction.DEBIT, "6.01", "", ""), "org", "wtx", ("a", "b"), AT)
    assert refused.value.balance == Decimal("10.00") and "6.00 NGN available" in refused.value.message
    after, _ = apply(full, movement(full, Direction.DEBIT, "6.00", "", ""), "org", "wtx", ("a", "b"), AT)
    assert after.balance == Decimal("4.00")


def test_an_overdraft_allowed_for_a_wallet_lets_it_go_below_zero_down_to_the_limit() -> None:
    allowed = wallet("5.00", overdraft="20.00")
    after, _ = apply(allowed, movement(allowed, Direction.DEBIT, "25.00", "", ""), "org", "wtx", ("a", "b"), AT)
    assert after.balance == Decimal("-20.00")
    with pytest.raises(InsufficientBalance):
        apply(after, movement(after, Direction.DEBIT, "0.01", "", ""), "org", "wtx", ("a", "b"), AT)


@pytest.mark.parametrize(("direction", "entry_type", "currency", "param"), [
    (Direction.CREDIT, "usage", "", "entry_type"), (Direction.DEBIT, "deposit", "", "entry_type"),
    (Direction.CREDIT, "bonus", "", "entry_type"), (Direction.DEBIT, "", "USD", "currency"),
])
def test_a_movement_names_the_field_it_cannot_take(direction: Direction, entry_type: str, currency: str,
                                                   param: str) -> None:
    with pytest.raises(FieldError) as refused:
        movement(wallet("5.00"), direction, "1.00", currency, entry_type)
    assert refused.value.param == param


def test_a_wallet_pays_an_invoice_up_to_its_available_balance_once_per_invoice() -> None:
    paid = invoice_payment(wallet("1000.00"), "inv_1", Decimal("700.00"))
    assert paid is not None and (paid.amount, paid.entry_type, paid.reference_id, paid.idempotency_key) == (
        Decimal("700.00"), EntryType.USAGE, "inv_1", "invoice:inv_1")
    part = invoice_payment(wallet("300.00", reserved="100.00"), "inv_2", Decimal("700.00"))
    assert part is not None and part.amount == Decimal("200.00")
    assert invoice_payment(wallet("0.00"), "inv_3", Decimal("1.00")) is None
    assert invoice_payment(replace(wallet("-5.00", overdraft="10"), balance=Decimal("-5")), "inv_4", Decimal(1)) is None

"""The wallet use case (application/wallets.py) on the in-memory fake the unit tests use and on the real
Postgres store: get-or-create, idempotent movements, balanced entries, no overspend, the listing, and the
table's own guard against a balance below its bound."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial

import pytest

from meterflow.adapters.postgres import create_pool
from meterflow.adapters.unit_of_work import PostgresUnitOfWork
from meterflow.application.ports.unit_of_work import UnitOfWorkFactory
from meterflow.application.wallets import MovementAsked, Wallets
from meterflow.clock import SystemClock
from meterflow.domain.catalog import Customer
from meterflow.domain.errors import Conflict, FieldError, NotFound
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.modes import Mode
from meterflow.domain.wallets import AccountType, Direction, InsufficientBalance
from meterflow.settings import Settings
from tests.fakes.billing import FakeDatabase
from tests.support import unique


@pytest.fixture(params=["fake", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest) -> Settings | None:
    settings: Settings | None = request.getfixturevalue("settings") if request.param == "postgres" else None
    return settings


@pytest.fixture
async def unit_of_work(database: Settings | None) -> AsyncIterator[UnitOfWorkFactory]:
    if database is None:
        yield FakeDatabase().unit_of_work
        return
    pool = await create_pool(database.database_dsn)
    try:
        yield partial(PostgresUnitOfWork, pool)
    finally:
        await pool.close()


@pytest.fixture
async def customer(unit_of_work: UnitOfWorkFactory) -> Customer:
    made = Customer(new_id(IdKind.CUSTOMER), Mode.TEST, unique("ext"), "c", None, {}, datetime.now(UTC))
    async with unit_of_work() as uow:
        await uow.customers.add_customer(made)
        await uow.commit()
    return made


@pytest.fixture
def wallets(unit_of_work: UnitOfWorkFactory) -> Wallets:
    return Wallets(unit_of_work, SystemClock(), "org_contract")


async def test_one_wallet_per_customer_and_currency_found_by_id_or_external_id(wallets: Wallets,
                                                                              customer: Customer) -> None:
    first, created = await wallets.get_or_create(Mode.TEST, customer.id, "ngn")
    again, created_again = await wallets.get_or_create(Mode.TEST, customer.external_id, "NGN")
    other, _ = await wallets.get_or_create(Mode.TEST, customer.id, "USD")
    assert (created, created_again, again.id) == (True, False, first.id)
    assert (first.currency, first.balance) == ("NGN", Decimal(0))
    assert other.id != first.id
    listed, more = await wallets.wallets(Mode.TEST, customer.external_id, 10, None)
    assert {w.id for w in listed} == {first.id, other.id} and not more
    with pytest.raises(NotFound):
        await wallets.get_or_create(Mode.LIVE, customer.id, "NGN")
    with pytest.raises(NotFound):
        await wallets.wallet(Mode.LIVE, first.id)
    with pytest.raises(FieldError):
        await wallets.get_or_create(Mode.TEST, customer.id, "XYZ")


async def test_a_key_applies_once_and_answers_the_same_transaction(wallets: Wallets, customer: Customer) -> None:
    wallet, _ = await wallets.get_or_create(Mode.TEST, customer.id, "NGN")
    asked = MovementAsked("1000.00", idempotency_key=unique("key"))
    _, first = await wallets.move(Mode.TEST, wallet.id, Direction.CREDIT, asked)
    after, again = await wallets.move(Mode.TEST, wallet.id, Direction.CREDIT, asked)
    assert after.balance == Decimal("1000.00") and [e.id for e in again] == [e.id for e in first]
    entries, total = await wallets.transactions(Mode.TEST, wallet.id, 10, 0)
    assert total == 1 and entries[0].transaction_id == first[0].transaction_id
    with pytest.raises(Conflict) as refused:
        await wallets.move(Mode.TEST, wallet.id, Direction.CREDIT, replace(asked, amount="5.00"))
    assert refused.value.param == "idempotency_key"


async def test_entries_balance_and_a_debit_beyond_the_balance_changes_nothing(wallets: Wallets,
                                                                              customer: Customer) -> None:
    wallet, _ = await wallets.get_or_create(Mode.TEST, customer.id, "USD")
    await wallets.move(Mode.TEST, wallet.id, Direction.CREDIT, MovementAsked("10.00"))
    after, entries = await wallets.move(Mode.TEST, wallet.id, Direction.DEBIT, MovementAsked("7.50", "USD"))
    assert after.balance == Decimal("2.50")
    debits = sum(e.amount for e in entries if e.direction is Direction.DEBIT)
    credits = sum(e.amount for e in entries if e.direction is Direction.CREDIT)
    assert debits == credits == Decimal("7.50") and {e.account_type for e in entries} == set(AccountType)
    with pytest.raises(InsufficientBalance):
        await wallets.move(Mode.TEST, wallet.id, Direction.DEBIT, MovementAsked("2.51"))
    assert (await wallets.wallet(Mode.TEST, wallet.id)).balance == Decimal("2.50")
    page, total = await wallets.transactions(Mode.TEST, wallet.id, 1, 1)
    assert total == 2 and [e.balance_after for e in page] == [Decimal("10.00")]


async def test_the_store_refuses_a_balance_below_its_bound_whatever_the_caller(unit_of_work: UnitOfWorkFactory,
                                                                               wallets: Wallets,
                                                                               customer: Customer) -> None:
    wallet, _ = await wallets.get_or_create(Mode.TEST, customer.id, "NGN")
    async with unit_of_work() as uow:
        with pytest.raises(Conflict):
            await uow.wallets.record(replace(wallet, balance=Decimal("-0.01")), [])


async def test_an_overdraft_ops_allow_lets_a_wallet_go_below_zero_down_to_its_limit(wallets: Wallets,
                                                                                    customer: Customer) -> None:
    wallet, _ = await wallets.get_or_create(Mode.TEST, customer.id, "USD")
    allowed = await wallets.allow_overdraft(wallet.id, "20.00")
    assert allowed.overdraft_limit == Decimal("20.00")
    after, _ = await wallets.move(Mode.TEST, wallet.id, Direction.DEBIT, MovementAsked("20.00"))
    assert after.balance == Decimal("-20.00")
    with pytest.raises(InsufficientBalance):
        await wallets.move(Mode.TEST, wallet.id, Direction.DEBIT, MovementAsked("0.01"))
    with pytest.raises(FieldError) as refused:
        await wallets.allow_overdraft(wallet.id, "1.001")
    assert refused.value.param == "limit"
    with pytest.raises(NotFound):
        await wallets.allow_overdraft("wal_missing", "1.00")

"""Wallet figures: debits a second through the wallet use case on Postgres, all on one wallet (every debit
queues on its row lock) and spread over 1,000 wallets (the ledger's throughput without that queue).

`concurrency` debits are always in flight, each a whole unit of work (lock, idempotency look-up, two
entries, the balance, the outbox's endpoint read, commit), as the API runs them. Afterwards each wallet's
balance is checked against the debits that succeeded: a figure of a wrong ledger is no figure.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from decimal import Decimal
from functools import partial

from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.postgres import create_pool
from meterflow.adapters.unit_of_work import PostgresUnitOfWork
from meterflow.application.wallets import MovementAsked, Wallets
from meterflow.clock import SystemClock
from meterflow.domain.catalog import Customer
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.modes import Mode
from meterflow.domain.wallets import Direction
from meterflow.settings import Settings

FUNDS = Decimal("1000000.00")


@dataclass(frozen=True)
class WalletFigures:
    debits: int
    one_wallet_per_s: float
    many_wallets: int
    many_wallets_per_s: float


async def _debit_rate(wallets: Wallets, wallet_ids: list[str], debits: int, concurrency: int) -> float:
    queue = iter(range(debits))

    async def debiter() -> None:
        for n in queue:
            await wallets.move(Mode.TEST, wallet_ids[n % len(wallet_ids)], Direction.DEBIT, MovementAsked("1.00"))

    started = time.monotonic()
    await asyncio.gather(*(debiter() for _ in range(concurrency)))
    return debits / (time.monotonic() - started)


async def _funded(wallets: Wallets, catalog: CatalogRepository, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        customer = Customer(new_id(IdKind.CUSTOMER), Mode.TEST, new_id(IdKind.CUSTOMER), "bench", None, {},
                            SystemClock().now())
        await catalog.add_customer(customer)
        wallet, _ = await wallets.get_or_create(Mode.TEST, customer.id, "NGN")
        await wallets.move(Mode.TEST, wallet.id, Direction.CREDIT, MovementAsked(format(FUNDS, "f")))
        ids.append(wallet.id)
    return ids


async def measure(settings: Settings, debits: int, many: int = 1_000, concurrency: int = 16) -> WalletFigures:
    pool = await create_pool(settings.database_dsn, max_size=concurrency)
    try:
        wallets = Wallets(partial(PostgresUnitOfWork, pool), SystemClock(), settings.org_id)
        catalog = CatalogRepository(pool)
        [one] = await _funded(wallets, catalog, 1)
        spread = await _funded(wallets, catalog, many)
        one_rate = await _debit_rate(wallets, [one], debits, concurrency)
        many_rate = await _debit_rate(wallets, spread, debits, concurrency)
        balances = {w: (await wallets.wallet(Mode.TEST, w)).balance for w in [one, *spread]}
        expected = {one: FUNDS - debits, **{w: FUNDS - len(range(i, debits, many)) for i, w in enumerate(spread)}}
        if balances != expected:
            raise AssertionError("a wallet's balance is not its credits less its debits")
        return WalletFigures(debits, one_rate, many, many_rate)
    finally:
        await pool.close()

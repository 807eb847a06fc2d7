"""The Postgres unit of work: one pooled connection, one transaction, and the billing repositories bound to
it, for a use case to drive (application/unit_of_work.py is the port).

Nothing is kept unless the use case commits: an exception, a cancelled task or a kill -9 rolls the whole
transaction back. `savepoint` nests a transaction, so a use case can try a write and, if the database
refuses it, undo just that write and carry on with the rest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Self

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from asyncpg.transaction import Transaction

from meterflow.adapters.alert_repository import AlertRepository
from meterflow.adapters.close_failure_repository import CloseFailureRepository
from meterflow.adapters.customer_repository import CustomerRepository
from meterflow.adapters.invoice_repository import InvoiceRepository
from meterflow.adapters.payment_repository import PaymentRepository
from meterflow.adapters.postgres import Pool
from meterflow.adapters.replay_job_repository import ReplayJobRepository
from meterflow.adapters.subscription_repository import SubscriptionRepository
from meterflow.adapters.wallet_repository import WalletRepository
from meterflow.adapters.webhook_event_repository import WebhookOutboxRepository


class PostgresUnitOfWork:
    invoices: InvoiceRepository
    subscriptions: SubscriptionRepository
    close_failures: CloseFailureRepository
    customers: CustomerRepository
    replay_jobs: ReplayJobRepository
    webhooks: WebhookOutboxRepository
    payments: PaymentRepository
    wallets: WalletRepository
    alerts: AlertRepository

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._connection: PoolConnectionProxy | None = None
        self._transaction: Transaction | None = None
        self._committed = False

    async def __aenter__(self) -> Self:
        self._connection = await self._pool.acquire()
        try:
            self._transaction = self._connection.transaction()
            await self._transaction.start()
        except BaseException:
            await self._pool.release(self._connection)
            raise
        self.invoices = InvoiceRepository(self._connection)
        self.subscriptions = SubscriptionRepository(self._connection)
        self.close_failures = CloseFailureRepository(self._connection)
        self.customers = CustomerRepository(self._connection)
        self.replay_jobs = ReplayJobRepository(self._connection)
        self.webhooks = WebhookOutboxRepository(self._connection)
        self.payments = PaymentRepository(self._connection)
        self.wallets = WalletRepository(self._connection)
        self.alerts = AlertRepository(self._connection)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """A rollback that fails while an exception leaves the unit (a commit cancelled mid-flight by a
        shutdown leaves the transaction in error state) must not replace that exception: a cancellation
        has to stay a cancellation, not become an error a worker logs and retries. Releasing the
        connection resets or closes it either way."""
        assert self._connection is not None and self._transaction is not None
        try:
            if not self._committed:
                try:
                    await self._transaction.rollback()
                except (asyncpg.InterfaceError, asyncpg.PostgresError):
                    if exc_info[0] is None:
                        raise
        finally:
            await self._pool.release(self._connection)
            self._connection = self._transaction = None

    async def commit(self) -> None:
        assert self._transaction is not None
        await self._transaction.commit()
        self._committed = True

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        assert self._connection is not None
        async with self._connection.transaction():
            yield


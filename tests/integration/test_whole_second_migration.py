"""Migration 0009 on a database written by the code before it: boundaries not yet invoiced are truncated
to the whole second, a finalized period never changes, and no instant ends up in two periods."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from alembic import command
from alembic.config import Config

import meterflow.migrations
from meterflow.settings import Settings
from tests.support import unique

pytestmark = pytest.mark.postgres

FRACTION = timedelta(microseconds=482_890)
START = datetime(2026, 12, 5, 7, 9, 43, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _migrate(dsn: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(Path(meterflow.migrations.__file__).parent))
    config.set_main_option("sqlalchemy.url", dsn.replace("postgresql://", "postgresql+asyncpg://", 1))
    command.upgrade(config, revision)


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[str]:
    """A database of its own, migrated to the revision before 0009."""
    name = unique("whole_seconds").lower()
    server = await asyncpg.connect(settings.database_dsn)
    await server.execute(f'CREATE DATABASE "{name}"')
    dsn = settings.database_dsn.rsplit("/", 1)[0] + f"/{name}"
    try:
        await asyncio.to_thread(_migrate, dsn, "0008_webhooks")  # alembic runs its own event loop
        yield dsn
    finally:
        await server.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await server.close()


async def _seed(db: asyncpg.Connection) -> None:
    await db.execute("INSERT INTO customers (id, mode, external_id, name) VALUES ('cus_1', 'test', 'e', 'n')")
    await db.execute("INSERT INTO plans (id, mode, name, currency, plan_type, billing_period) "
                     "VALUES ('plan_1', 'test', 'p', 'USD', 'collection', 'daily')")
    anchor = START + FRACTION
    # sub_new: still in its first period, with a draft of it. sub_old: its first period is finalized.
    for sub, period_start in (("sub_new", anchor), ("sub_old", anchor + 24 * HOUR)):
        await db.execute(
            "INSERT INTO subscriptions (id, mode, customer_id, plan_id, status, anchor, current_period_start, "
            "current_period_end, created_at) VALUES ($1, 'test', 'cus_1', 'plan_1', 'active', $2, $3, $4, $2)",
            sub, anchor, period_start, period_start + 24 * HOUR)
    for invoice, sub, status, start in (("inv_draft", "sub_new", "draft", anchor),
                                        ("inv_final", "sub_old", "finalized", anchor)):
        await db.execute(
            "INSERT INTO invoices (id, mode, customer_id, subscription_id, status, currency, period_start, "
            "period_end, subtotal, total) VALUES ($1, 'test', 'cus_1', $2, $3, 'USD', $4, $5, 1, 1)",
            invoice, sub, status, start, start + 24 * HOUR)


async def test_unbilled_boundaries_are_truncated_and_a_finalized_period_is_never_changed(database: str) -> None:
    db = await asyncpg.connect(database)
    try:
        await _seed(db)
        await asyncio.to_thread(_migrate, database, "head")
        subs = {r["id"]: r for r in await db.fetch("SELECT * FROM subscriptions")}
        invoices = {r["id"]: r for r in await db.fetch("SELECT * FROM invoices")}
    finally:
        await db.close()
    fresh, old = subs["sub_new"], subs["sub_old"]
    assert (fresh["current_period_start"], fresh["current_period_end"]) == (START, START + 24 * HOUR)
    assert (fresh["anchor"], fresh["first_period_start"], fresh["usage_from"]) == (START, START, START)
    assert (invoices["inv_draft"]["period_start"], invoices["inv_draft"]["period_end"]) == (START, START + 24 * HOUR)
    # The finalized period is as it was; the period after it keeps its start, and ends on a whole second.
    final = invoices["inv_final"]
    assert (final["period_start"], final["period_end"]) == (START + FRACTION, START + 24 * HOUR + FRACTION)
    assert old["current_period_start"] == final["period_end"]
    assert old["current_period_end"] == START + 48 * HOUR and old["anchor"] == START
    assert old["first_period_start"] == START + FRACTION

"""Alembic environment: runs migrations over asyncpg, serialised by an advisory lock so that two
processes starting at once cannot apply the same migration twice."""

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

MIGRATION_LOCK_ID = 7_201_001


def _run(connection: Connection) -> None:
    connection.execute(text(f"SELECT pg_advisory_lock({MIGRATION_LOCK_ID})"))
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
    connection.execute(text(f"SELECT pg_advisory_unlock({MIGRATION_LOCK_ID})"))


async def _migrate(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


asyncio.run(_migrate(context.config.get_main_option("sqlalchemy.url") or ""))

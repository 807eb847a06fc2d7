"""Postgres connection pool and the paging query every list endpoint shares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from meterflow.domain.errors import NotFound
from meterflow.domain.events import decode_json, encode_json
from meterflow.domain.modes import Mode

Pool: TypeAlias = asyncpg.Pool
# What `pool.acquire()` yields: a connection borrowed from the pool, usable like a connection.
Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy
# What a repository runs its SQL on: the pool (one statement, autocommit) or a unit of work's connection.
Executor: TypeAlias = Pool | Connection


async def _init_connection(connection: asyncpg.Connection) -> None:
    # JSON columns keep numbers exact, like events do (no float on the way in or out).
    for json_type in ("json", "jsonb"):
        await connection.set_type_codec(json_type, schema="pg_catalog",
                                        encoder=lambda v: encode_json(v).decode(), decoder=decode_json)


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> Pool:
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=_init_connection)
    assert pool is not None
    return pool


async def fetch_page(pool: Executor, table: str, mode: Mode, limit: int, starting_after: str | None,
                     where: str = "", args: tuple[Any, ...] = ()) -> tuple[list[asyncpg.Record], bool]:
    """Newest first, Stripe-style: `starting_after` is the last id of the previous page, of this mode;
    any other id is NotFound (an empty page would read as "no more", a silent wrong answer).

    `table` and `where` come from our own code, never from a request; values are always bound.
    """
    conditions = ["mode = $1", *([where] if where else [])]
    params: list[Any] = [mode.value, *args]
    if starting_after is not None:
        if not await pool.fetchval(f"SELECT 1 FROM {table} WHERE mode = $1 AND id = $2", mode.value,
                                   starting_after):
            raise NotFound(table.removesuffix("s"), starting_after, "starting_after")
        params.append(starting_after)
        n = len(params)
        conditions.append(f"(created_at, id) < (SELECT created_at, id FROM {table} WHERE id = ${n})")
    params.append(limit + 1)
    sql = (f"SELECT * FROM {table} WHERE {' AND '.join(conditions)} "
           f"ORDER BY created_at DESC, id DESC LIMIT ${len(params)}")
    rows = await pool.fetch(sql, *params)
    return rows[:limit], len(rows) > limit


async def fetch_filtered_page(pool: Executor, table: str, mode: Mode, limit: int, starting_after: str | None,
                              filters: Mapping[str, object], where: str = "") -> tuple[list[asyncpg.Record], bool]:
    """A page narrowed by `column = value` for each filter given (None: not given), and by `where`. The
    column names are the keys of a TypedDict of our own, never a request's."""
    given = {column: value for column, value in filters.items() if value is not None}
    conditions = [f"{column} = ${n}" for n, column in enumerate(given, start=2)] + ([where] if where else [])
    return await fetch_page(pool, table, mode, limit, starting_after, " AND ".join(conditions),
                            tuple(given.values()))

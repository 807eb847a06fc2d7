"""SQL for the events on record (domain/event_record.py): the batched, idempotent write, its monthly
partitions, and retention.

The write is one binary COPY and one statement per batch, never one per event: it sits on the
processor's hot path, between the counting transaction and the offset commit. The rows are copied into a
temporary table of the session (emptied at commit), then inserted from it; asyncpg encodes COPY's rows for
~3 µs of CPU an event where the same rows as `unnest` column arrays took ~5 µs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import orjson

from meterflow.adapters.postgres import Pool
from meterflow.domain.errors import NotFound
from meterflow.domain.event_record import (
    EventFilter,
    EventOnRecord,
    Position,
    ValueTally,
    month_start,
    next_month,
)
from meterflow.domain.modes import Mode

_COLUMNS = ("mode", "idempotency_key", "customer_id", "event_name", "timestamp", "properties", "received_at", "topic",
            "kafka_partition", "kafka_offset")
# Where a batch's rows are copied: one per session (created on a connection's first batch; the TEMPORARY
# privilege, which Postgres grants every role by default), empty again once the batch's transaction ends.
# Its columns are those of events_on_record, but the properties are text (asyncpg has no binary COPY
# encoder for json): Postgres parses them into the json column as it inserts them.
_CREATE_STAGING = """
CREATE TEMPORARY TABLE IF NOT EXISTS events_to_record (
    mode text NOT NULL, idempotency_key text NOT NULL, customer_id text NOT NULL, event_name text NOT NULL,
    timestamp timestamptz NOT NULL, properties text NOT NULL, received_at timestamptz NOT NULL, topic text NOT NULL,
    kafka_partition integer NOT NULL, kafka_offset bigint NOT NULL
) ON COMMIT DELETE ROWS
"""
# The rows written bump their hour's version in the same statement (docs/usage-edges.md): a figure
# folded from the record is never used once a row of its hour was added, and no reader can see the
# rows without the bump. Versions are upserted in key order, so two writers never deadlock.
_INSERT = """
WITH written AS (
    INSERT INTO events_on_record (mode, idempotency_key, customer_id, event_name, timestamp, properties,
                                  received_at, topic, kafka_partition, kafka_offset)
    SELECT mode, idempotency_key, customer_id, event_name, timestamp, properties::json, received_at, topic,
           kafka_partition, kafka_offset
    FROM events_to_record
    ON CONFLICT DO NOTHING
    RETURNING mode, customer_id, event_name, date_trunc('hour', timestamp, 'UTC') AS hour
)
INSERT INTO record_hour_versions (mode, customer_id, event_name, hour, version)
SELECT mode, customer_id, event_name, hour, count(*) FROM written
GROUP BY mode, customer_id, event_name, hour ORDER BY mode, customer_id, event_name, hour
ON CONFLICT (mode, customer_id, event_name, hour)
DO UPDATE SET version = record_hour_versions.version + excluded.version
"""
# Two writers creating the same month's partition at once would collide in the catalog: one lock.
_PARTITION_LOCK = "SELECT pg_advisory_xact_lock(hashtext('events_on_record partitions'))"


def _number(value: object) -> orjson.Fragment:
    if isinstance(value, Decimal):
        return orjson.Fragment(str(value))  # the number's own text, unquoted: exact, as received
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def properties_json(properties: dict[str, Any]) -> str:
    """The properties as JSON text for the `json` column, in one C call per event (simplejson's encoder
    took ~3 µs of the processor's hot path). Decoded properties hold only JSON values (numbers as int or
    Decimal, within the value domain: no int past 64 bits), and `json` keeps the text as given; read back,
    it decodes to the same values (non-ASCII text is written as UTF-8 rather than escaped)."""
    return orjson.dumps(properties, default=_number).decode()


def months_of(timestamps: Iterable[datetime]) -> set[datetime]:
    """The UTC months these instants fall in. Month boundaries are whole UTC hours, so each distinct hour
    is converted once (a batch of thousands spans a few hours)."""
    hours = {int(t.timestamp()) // 3600 for t in timestamps}
    return {month_start(datetime.fromtimestamp(hour * 3600, UTC)) for hour in hours}


def _event(row: asyncpg.Record) -> EventOnRecord:
    return EventOnRecord(Mode(row["mode"]), row["idempotency_key"], row["customer_id"], row["event_name"],
                         row["timestamp"], row["properties"], row["received_at"],
                         Position(row["topic"], row["kafka_partition"], row["kafka_offset"]))


class _Query:
    """A WHERE clause over the events on record with its bound values: only the fixed fragments below
    are joined into SQL, every value is a parameter."""

    def __init__(self, mode: Mode, wanted: EventFilter) -> None:
        self.params: list[Any] = [mode.value]
        self.conditions = ["mode = $1"]
        for column, value in (("customer_id", wanted.customer_id), ("idempotency_key", wanted.idempotency_key)):
            if value is not None:
                self.conditions.append(f"{column} = {self.bind(value)}")
        if wanted.event_names is not None:
            self.conditions.append(f"event_name = ANY({self.bind(list(wanted.event_names))}::text[])")
        if wanted.start is not None:
            self.conditions.append(f"timestamp >= {self.bind(wanted.start)}")
        if wanted.end is not None:
            self.conditions.append(f"timestamp < {self.bind(wanted.end)}")

    def bind(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}"

    @property
    def where(self) -> str:
        return " AND ".join(self.conditions)


def _select(mode: Mode, wanted: EventFilter, after: tuple[datetime, str] | None, limit: int,
            newest_first: bool) -> tuple[str, list[Any]]:
    """One keyset-paged read, in (timestamp, idempotency_key) order: the index on (mode, customer_id,
    timestamp, idempotency_key) (or on (mode, timestamp, …)) serves the filter, the order and the cursor."""
    query = _Query(mode, wanted)
    order, beyond = ("DESC", "<") if newest_first else ("ASC", ">")
    if after is not None:
        query.conditions.append(f"(timestamp, idempotency_key) {beyond} ({query.bind(after[0])}, "
                                f"{query.bind(after[1])})")
    sql = (f"SELECT * FROM events_on_record WHERE {query.where} "
           f"ORDER BY timestamp {order}, idempotency_key {order} LIMIT {query.bind(limit)}")
    return sql, query.params


def partition_name(start: datetime) -> str:
    return f"events_on_record_{start.year:04d}_{start.month:02d}"


# The advisory lock between counting and rebuilding (application/ports/usage.py EventRecordWriter.counting).
_FENCE_KEY = 0x6D66_7265_636F_7264  # "mfrecord"


class EventRecordRepository:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._partitions: set[datetime] = set()  # months known to exist, to skip the DDL on the hot path

    def counting(self) -> AbstractAsyncContextManager[None]:
        return self._fence("pg_advisory_lock_shared", "pg_advisory_unlock_shared")

    def rebuilding(self) -> AbstractAsyncContextManager[None]:
        return self._fence("pg_advisory_lock", "pg_advisory_unlock")

    @asynccontextmanager
    async def _fence(self, lock: str, unlock: str) -> AsyncIterator[None]:
        """A session-level advisory lock on a connection of its own, held for the block. If it cannot be
        released, the connection is closed, which releases it: a pooled session never keeps it."""
        async with self._pool.acquire() as connection:
            await connection.execute(f"SELECT {lock}($1)", _FENCE_KEY)
            try:
                yield
            finally:
                try:
                    await connection.execute(f"SELECT {unlock}($1)", _FENCE_KEY)
                except Exception:
                    connection.terminate()
                    raise

    async def add(self, events: Sequence[EventOnRecord]) -> None:
        """Idempotent: a row already on record (same mode, key and timestamp) stays as it is."""
        if not events:
            return
        await self.ensure_partitions(months_of(e.timestamp for e in events))
        rows = [(e.mode.value, e.idempotency_key, e.customer_id, e.event_name, e.timestamp,
                 properties_json(e.properties), e.received_at, e.position.topic, e.position.partition,
                 e.position.offset) for e in events]
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute(_CREATE_STAGING)
            await connection.copy_records_to_table("events_to_record", records=rows, columns=_COLUMNS)
            await connection.execute(_INSERT)

    async def ensure_partitions(self, months: set[datetime]) -> None:
        missing = sorted(months - self._partitions)
        if not missing:
            return
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute(_PARTITION_LOCK)
            for start in missing:
                # DDL takes no parameters; the name and bounds are built from integers, never from input.
                await connection.execute(
                    f"CREATE TABLE IF NOT EXISTS {partition_name(start)} PARTITION OF events_on_record "
                    f"FOR VALUES FROM ('{start.isoformat()}') TO ('{next_month(start).isoformat()}')")
        self._partitions |= set(missing)

    async def drop_before(self, cutoff: datetime) -> list[str]:
        """Retention: drop every monthly partition wholly older than `cutoff` (a catalog operation, no
        row-by-row delete). Returns the partitions dropped."""
        rows = await self._pool.fetch(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'events_on_record' ORDER BY 1")
        dropped = []
        for row in rows:
            name: str = row["relname"]
            year, month = int(name[-7:-3]), int(name[-2:])
            if next_month(datetime(year, month, 1, tzinfo=cutoff.tzinfo)) <= cutoff:
                await self._pool.execute(f"DROP TABLE IF EXISTS {name}")
                self._partitions.discard(datetime(year, month, 1, tzinfo=cutoff.tzinfo))
                dropped.append(name)
        return dropped

    async def by_key(self, mode: Mode, idempotency_key: str) -> EventOnRecord | None:
        rows = await self._fetch(_select(mode, EventFilter(idempotency_key=idempotency_key), None, 1, True))
        return _event(rows[0]) if rows else None

    async def page(self, mode: Mode, wanted: EventFilter, limit: int,
                   starting_after: str | None) -> tuple[list[EventOnRecord], bool]:
        """Newest first. `starting_after` is the idempotency key of the last event of the previous page;
        a key not on record in this mode is NotFound (an empty page would read as "no more")."""
        after = None
        if starting_after is not None:
            cursor = await self.by_key(mode, starting_after)
            if cursor is None:
                raise NotFound("event", starting_after, "starting_after")
            after = cursor.timestamp, cursor.idempotency_key
        rows = await self._fetch(_select(mode, wanted, after, limit + 1, True))
        return [_event(r) for r in rows[:limit]], len(rows) > limit

    async def scan(self, mode: Mode, wanted: EventFilter, chunk: int = 10_000) -> AsyncIterator[list[EventOnRecord]]:
        """Every matching event, oldest first, in chunks (bounded memory for a period of millions). The
        next chunk is already being read while the caller works on this one (replay folds a million)."""
        rows = await self._fetch(_select(mode, wanted, None, chunk, False))
        while rows:
            after = rows[-1]["timestamp"], rows[-1]["idempotency_key"]
            following = asyncio.ensure_future(self._fetch(_select(mode, wanted, after, chunk, False)))
            try:
                yield [_event(r) for r in rows]
            except BaseException:
                following.cancel()
                raise
            rows = await following

    async def tally(self, mode: Mode, wanted: EventFilter, prop: str | None,
                    chunk: int = 5_000) -> AsyncIterator[list[ValueTally]]:
        """How many matching events carry each JSON text of `prop` (None: all of them, as one count),
        in order of each text's first event: Postgres reads every event, the caller only the distinct
        texts. Up to `chunk` of them come in one round trip; more (a `unique` property may have millions)
        are read again through a cursor, a chunk at a time."""
        query = _Query(mode, wanted)
        if prop is None:
            sql = f"SELECT NULL::text AS text, count(*) AS events FROM events_on_record WHERE {query.where}"
        else:
            sql = (f"SELECT (properties -> {query.bind(prop)})::text AS text, count(*) AS events "
                   f"FROM events_on_record WHERE {query.where} GROUP BY 1 "
                   "ORDER BY min(timestamp), min(idempotency_key)")
        rows = await self._pool.fetch(f"{sql} LIMIT ${len(query.params) + 1}", *query.params, chunk + 1)
        if len(rows) <= chunk:
            yield [ValueTally(row["text"], row["events"]) for row in rows if row["events"]]
            return
        async with self._pool.acquire() as connection, connection.transaction():
            cursor = await connection.cursor(sql, *query.params)
            while rows := await cursor.fetch(chunk):
                yield [ValueTally(row["text"], row["events"]) for row in rows if row["events"]]

    async def _fetch(self, query: tuple[str, list[Any]]) -> list[asyncpg.Record]:
        sql, params = query
        return list(await self._pool.fetch(sql, *params))

    async def count(self, mode: Mode, wanted: EventFilter) -> int:
        query = _Query(mode, wanted)
        value = await self._pool.fetchval(f"SELECT count(*) FROM events_on_record WHERE {query.where}", *query.params)
        return int(value or 0)

    async def event_names(self, mode: Mode, wanted: EventFilter) -> list[str]:
        query = _Query(mode, wanted)
        rows = await self._pool.fetch(f"SELECT DISTINCT event_name FROM events_on_record WHERE {query.where}",
                                      *query.params)
        return sorted(r["event_name"] for r in rows)

    async def keys_on_record(self, mode: Mode, idempotency_keys: Sequence[str]) -> set[str]:
        """Which of these keys are on record in this mode, whatever their timestamp (backfill's dedupe)."""
        rows = await self._pool.fetch("SELECT DISTINCT idempotency_key FROM events_on_record WHERE mode = $1 "
                                      "AND idempotency_key = ANY($2::text[])", mode.value, list(set(idempotency_keys)))
        return {r["idempotency_key"] for r in rows}

"""Redis adapter for the processor's durable state: dedupe marks and hourly rollups.

The invariant that makes counting exactly-once (docs/exactly-once.md): a batch's dedupe marks and the
rollup changes they stand for are written in ONE Redis transaction (MULTI/EXEC), so they are durable
together or not at all. A replayed event is a duplicate only if its effect is already in the rollups;
an event whose transaction never happened is simply counted on replay. WATCH on every key read makes
the read-fold-write race-free against a second processor (rebalance, zombie) touching the same keys.
Arithmetic happens in Python on Decimals, never in Redis (HINCRBYFLOAT is binary floating point).

Layout (all keys carry the mode, so test and live never meet):
- dedupe marks: `s` + mode letter + a 96-bit BLAKE2b digest of the idempotency key → "1", expiring at
  event time + W + skew. A digest instead of the key itself saves ~40% of Redis memory per remembered
  key; at 10^9 keys in the window the chance of any collision is ~6e-12;
- `mf:r:{mode}:{metric}:{customer}:{day}` hash, fields `{hour}:{stat}`, one rollup per hour;
- `mf:d:{mode}:{metric}:{customer}:{day}` hash, distinct value (JSON text) → bitmask of its hours.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from redis.asyncio import Redis
from redis.exceptions import WatchError

from meterflow.domain.modes import Mode
from meterflow.domain.rollups import (
    DaySlice,
    Observation,
    Rollup,
    Window,
    day_slices,
    fold,
    merge_all,
)
from meterflow.domain.usage import PeriodUsage, UsageQuery
from meterflow.settings import Settings

_STATS = ("e", "v", "t", "x", "m", "u")
_SET_MARKS = """
for i, key in ipairs(KEYS) do redis.call('SET', key, '1', 'EXAT', ARGV[i]) end
return #KEYS
"""


_MARK_PREFIX = {Mode.TEST: b"st", Mode.LIVE: b"sl"}


def seen_key(mode: Mode, idempotency_key: str) -> bytes:
    return _MARK_PREFIX[mode] + hashlib.blake2b(idempotency_key.encode(), digest_size=12).digest()


def _rollup_key(mode: Mode, metric_id: str, customer_id: str, day: int) -> str:
    return f"mf:r:{mode}:{metric_id}:{customer_id}:{day}"


def _distinct_key(mode: Mode, metric_id: str, customer_id: str, day: int) -> str:
    return f"mf:d:{mode}:{metric_id}:{customer_id}:{day}"


@dataclass(frozen=True)
class Contribution:
    """What one event adds to one metric's rollup."""

    metric_id: str
    observation: Observation


@dataclass(frozen=True)
class CountableEvent:
    mode: Mode
    idempotency_key: str
    customer_id: str
    event_name: str
    timestamp: datetime
    contributions: tuple[Contribution, ...]


@dataclass
class BatchOutcome:
    counted: list[CountableEvent] = field(default_factory=list)
    duplicates: list[CountableEvent] = field(default_factory=list)


def encode_rollup(hour: int, rollup: Rollup) -> dict[str, str]:
    values = (rollup.events, rollup.valued, rollup.total, rollup.maximum, rollup.minimum, rollup.unbillable)
    return {f"{hour}:{stat}": str(value) for stat, value in zip(_STATS, values, strict=True)
            if value is not None}


def decode_rollups(fields: dict[str, str]) -> dict[int, Rollup]:
    by_hour: dict[int, dict[str, str]] = defaultdict(dict)
    for name, value in fields.items():
        hour, stat = name.split(":")
        by_hour[int(hour)][stat] = value
    return {hour: Rollup(
        events=int(stats.get("e", 0)), valued=int(stats.get("v", 0)), total=Decimal(stats.get("t", 0)),
        maximum=Decimal(stats["x"]) if "x" in stats else None,
        minimum=Decimal(stats["m"]) if "m" in stats else None,
        unbillable=int(stats.get("u", 0)),
    ) for hour, stats in by_hour.items()}


class UsageStore:
    def __init__(self, redis: Redis, *, dedupe_window: timedelta, clock_skew: timedelta,
                 retention: timedelta) -> None:
        self._redis = redis
        self._key_memory = dedupe_window + clock_skew
        self._clock_skew = clock_skew
        self._retention = retention

    @classmethod
    def from_settings(cls, redis: Redis, settings: Settings) -> UsageStore:
        return cls(redis, dedupe_window=timedelta(seconds=settings.dedupe_window_s),
                   clock_skew=timedelta(seconds=settings.clock_skew_s),
                   retention=timedelta(seconds=settings.rollup_retention_s))

    async def ping(self) -> object:
        return await self._redis.ping()

    async def known_keys(self, mode: Mode, idempotency_keys: Sequence[str]) -> set[str]:
        """Keys already counted (the gateway's early answer; the processor stays the judge)."""
        if not idempotency_keys:
            return set()
        found = await self._redis.mget([seen_key(mode, key) for key in idempotency_keys])
        return {key for key, hit in zip(idempotency_keys, found, strict=True) if hit is not None}

    async def apply(self, events: Sequence[CountableEvent], now: datetime) -> BatchOutcome:
        """Count each not-yet-seen event once: marks and rollups in one transaction, retried on conflict."""
        while True:
            try:
                return await self._apply_once(events, now)
            except WatchError:
                continue

    async def _apply_once(self, events: Sequence[CountableEvent], now: datetime) -> BatchOutcome:
        marks = list(dict.fromkeys(seen_key(e.mode, e.idempotency_key) for e in events))
        touched = _touched_keys(events)
        async with self._redis.pipeline(transaction=True) as tx:
            await tx.watch(*marks, *touched.rollup_keys, *touched.distinct_keys)
            seen, rollups, distinct = await self._read(marks, touched)
            outcome, changes = _fold_new_events(events, seen, rollups, distinct)
            tx.multi()  # type: ignore[no-untyped-call]
            if outcome.counted:
                floor = now + self._clock_skew
                expiries = [int(max(e.timestamp + self._key_memory, floor).timestamp()) for e in outcome.counted]
                marks_to_set = [seen_key(e.mode, e.idempotency_key) for e in outcome.counted]
                # One command for all marks, still inside this MULTI/EXEC: a SET per event would make the
                # client, not Redis, the bottleneck.
                tx.eval(_SET_MARKS, len(marks_to_set), *marks_to_set, *expiries)
            self._queue_changes(tx, changes)
            await tx.execute()
        return outcome

    async def _read(self, marks: list[bytes], touched: _TouchedKeys) -> tuple[
            set[bytes], dict[str, dict[str, str]], dict[str, dict[str, int]]]:
        reads = self._redis.pipeline(transaction=False)
        reads.mget(marks)
        for key in touched.rollup_keys:
            reads.hgetall(key)
        for key, values in touched.distinct_keys.items():
            reads.hmget(key, list(values))
        results = await reads.execute()
        seen = {mark for mark, hit in zip(marks, results[0], strict=True) if hit is not None}
        rollup_results = results[1:1 + len(touched.rollup_keys)]
        distinct_results = results[1 + len(touched.rollup_keys):]
        rollups = dict(zip(touched.rollup_keys, rollup_results, strict=True))
        distinct = {key: {value: int(mask or 0) for value, mask in zip(values, masks, strict=True)}
                    for (key, values), masks in zip(touched.distinct_keys.items(), distinct_results,
                                                    strict=True)}
        return seen, rollups, distinct

    def _queue_changes(self, tx: object, changes: _Changes) -> None:
        for key, (day, hours) in changes.rollups.items():
            mapping: dict[str, str] = {}
            for hour, rollup in hours.items():
                mapping |= encode_rollup(hour, rollup)
            tx.hset(key, mapping=mapping)  # type: ignore[attr-defined]
            tx.expireat(key, self._expiry(day))  # type: ignore[attr-defined]
        for key, (day, masks) in changes.distinct.items():
            tx.hset(key, mapping={value: str(mask) for value, mask in masks.items()})  # type: ignore[attr-defined]
            tx.expireat(key, self._expiry(day))  # type: ignore[attr-defined]

    def _expiry(self, day: int) -> int:
        return int((Window(day, 0).start + timedelta(days=1) + self._retention).timestamp())

    async def usage(self, queries: Sequence[UsageQuery]) -> list[PeriodUsage]:
        """Period figures for many (metric, customer, period) at once: one pipelined round trip."""
        reads = self._redis.pipeline(transaction=False)
        plans: list[list[DaySlice]] = []
        for query in queries:
            slices = list(day_slices(query.period))
            plans.append(slices)
            for piece in slices:
                reads.hgetall(_rollup_key(query.mode, query.metric_id, query.customer_id, piece.day))
                reads.hgetall(_distinct_key(query.mode, query.metric_id, query.customer_id, piece.day))
        results = iter(await reads.execute())
        figures = []
        for slices in plans:
            rollups: list[Rollup] = []
            values: set[str] = set()
            for piece in slices:
                rollups += [r for hour, r in decode_rollups(next(results)).items() if piece.covers(hour)]
                values |= {v for v, mask in next(results).items() if _mask_in(int(mask), piece)}
            figures.append(PeriodUsage(merge_all(rollups), len(values)))
        return figures


def _mask_in(mask: int, piece: DaySlice) -> bool:
    covered = ((1 << (piece.last_hour + 1)) - 1) & ~((1 << piece.first_hour) - 1)
    return mask & covered != 0


@dataclass
class _TouchedKeys:
    rollup_keys: list[str] = field(default_factory=list)
    distinct_keys: dict[str, list[str]] = field(default_factory=dict)


def _touched_keys(events: Iterable[CountableEvent]) -> _TouchedKeys:
    rollup_keys: dict[str, None] = {}
    distinct: dict[str, dict[str, None]] = defaultdict(dict)
    for event in events:
        day = Window.of(event.timestamp).day
        for c in event.contributions:
            rollup_keys[_rollup_key(event.mode, c.metric_id, event.customer_id, day)] = None
            if c.observation.distinct is not None:
                distinct[_distinct_key(event.mode, c.metric_id, event.customer_id, day)][
                    c.observation.distinct] = None
    return _TouchedKeys(list(rollup_keys), {k: list(v) for k, v in distinct.items()})


@dataclass
class _Changes:
    rollups: dict[str, tuple[int, dict[int, Rollup]]] = field(default_factory=dict)
    distinct: dict[str, tuple[int, dict[str, int]]] = field(default_factory=dict)


def _fold_new_events(events: Sequence[CountableEvent], seen: set[bytes], stored: dict[str, dict[str, str]],
                     stored_distinct: dict[str, dict[str, int]]) -> tuple[BatchOutcome, _Changes]:
    """First event per key wins; later ones (in the store or earlier in this batch) are duplicates."""
    outcome, changes, marked = BatchOutcome(), _Changes(), set(seen)
    for event in events:
        mark = seen_key(event.mode, event.idempotency_key)
        if mark in marked:
            outcome.duplicates.append(event)
            continue
        marked.add(mark)
        outcome.counted.append(event)
        window = Window.of(event.timestamp)
        for c in event.contributions:
            key = _rollup_key(event.mode, c.metric_id, event.customer_id, window.day)
            if key not in changes.rollups:
                changes.rollups[key] = (window.day, decode_rollups(stored.get(key) or {}))
            hours = changes.rollups[key][1]
            hours[window.hour] = fold(hours.get(window.hour, Rollup()), c.observation)
            if c.observation.distinct is not None:
                dkey = _distinct_key(event.mode, c.metric_id, event.customer_id, window.day)
                masks = changes.distinct.setdefault(dkey, (window.day, dict(stored_distinct[dkey])))[1]
                masks[c.observation.distinct] = masks.get(c.observation.distinct, 0) | (1 << window.hour)
    return outcome, changes

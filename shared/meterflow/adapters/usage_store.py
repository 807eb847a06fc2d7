"""Redis adapter for the processor's durable state: dedupe marks and hourly rollups.

The invariant that makes counting exactly-once (docs/exactly-once.md): a batch's dedupe marks and the
rollup changes they stand for are written in ONE Redis transaction (MULTI/EXEC), so they are durable
together or not at all. On a Redis Cluster a key is first claimed in its own slot group, then counted
in its customer's, under an "applied" mark that makes that second step exactly-once in turn (`apply`
says why the two together are exact, `redis_keys.py` names the keys). A replayed event is a duplicate
only if its effect is already in the rollups; an event whose transaction never happened is simply
counted on replay. WATCH on every key read makes the read-fold-write race-free against a second
processor (rebalance, zombie) touching the same keys.
The rule itself (which events count, what they add) is `domain/counting.py`; this module only reads the
state it needs, encodes, and writes. Arithmetic never happens in Redis (HINCRBYFLOAT is binary float).

Layout (all keys carry the mode, so test and live never meet):
- dedupe marks, in two tiers written by the same script (`dedupe_marks.py` has the layout and why):
  **cold**, the last 80 bits of a 96-bit BLAKE2b digest of each key packed in strings
  `mf:c:{mode}:{slice}:{bucket}`, each expiring at once, at least event time + W + skew; and **hot**,
  the same key → the compact origin token of the record counted (`domain/event_record.py`) in small
  hashes of hourly slices `mf:h:{mode}:{slice}:{bucket}`, with the highest offset marked per partition
  beside them (`…:o`). A lookup reads the cold tier, and the hot one only for a key found there (to tell
  a replay of the counted record, `recounted`, from a duplicate). `sweep_hot_marks` drops a hot slice
  once it is an hour past its end and the processors committed past every record it marks: no replay
  can ask for its origins any more. Marks of the previous layout (`mf:m`, hashes with origins) are read
  until they expire. On a cluster the cold and hot marks are a key's claim, in the key's slot group,
  and `mf:p:{mode}:{slice}:{bucket}` (hot, hourly, swept by the same rule) marks in the customer's
  group the keys whose effects were applied, with the origin they were applied for;
- `mf:r:{mode}:{metric}:{customer}:{day}` hash, fields `{hour}:{stat}`, one rollup per hour;
- `mf:d:{mode}:{metric}:{customer}:{day}` hash, distinct value (JSON text) → bitmask of its hours;
- the accounting figures a batch decides (counted, duplicates per hour of receipt, docs/accounting.md), written
  by the same script (`accounting_store.py` has their layout).
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline
from redis.exceptions import WatchError

from meterflow.adapters.accounting_store import AccountingStore
from meterflow.adapters.dedupe_marks import (
    HOT_SLICE_S,
    HashWrites,
    MarkLayout,
    decode_origin,
    digest,
    encode_origin,
    hot_bits,
    lookup_args,
    mark_value,
    marked_keys,
    with_known_slices,
    write_args,
)
from meterflow.adapters.redis_client import RedisClient, begin_multi, key_space, ready, transaction
from meterflow.adapters.redis_keys import APPLIED_MARKS_PREFIX, COLD_MARKS_PREFIX, HOT_MARKS_PREFIX, MARKS_PREFIX
from meterflow.domain.catalog import Metric
from meterflow.domain.counting import (
    BatchOutcome,
    Changes,
    CountableEvent,
    DedupeKey,
    Reads,
    RollupKey,
    StoredState,
    count_batch,
    period_parts,
    reads_needed,
)
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period
from meterflow.domain.replay import ChangedHour, changed_hours, hour_start, replaced_masks
from meterflow.domain.rollups import DaySlice, Rollup, Window, day_slices
from meterflow.domain.usage import PeriodUsage, UsageQuery

_K = TypeVar("_K")
_STATS = ("e", "v", "t", "x", "m", "u")


_READ_HASHES = """
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('HGETALL', key) end
return out
"""
_HASHES_PER_CALL = 2_000
_UNLINK_CHUNK = 1_000
# The processor group's committed offset (the next to read) of each (topic, partition) asked; 0 if none.
CommittedOffsets = Callable[[Collection[tuple[str, int]]], Awaitable[Mapping[tuple[str, int], int]]]


class MarkConflict(WatchError):
    """A key of the batch was marked by someone else between our read and our write: read again."""


@dataclass(frozen=True)
class _Tiers:
    """Where a counting transaction looks its keys up and what it writes with the count."""

    looked: list[MarkLayout]  # a key marked in any of these is counted already
    origins: MarkLayout | None  # where a found mark's origin is, when the mark itself holds none
    written: list[MarkLayout]  # the marks the count writes; the last is hot (its slices keep their offsets)

    @property
    def layouts(self) -> list[MarkLayout]:
        return list(dict.fromkeys([*self.looked, *([self.origins] if self.origins else []), *self.written]))


def _offsets(fields: Mapping[bytes | str, bytes | str]) -> dict[tuple[str, int], int]:
    """A hot slice's highest offsets, `topic:partition` → offset, by (topic, partition)."""
    marked: dict[tuple[str, int], int] = {}
    for name, offset in fields.items():
        topic, partition = str(name).rsplit(":", 1)
        marked[(topic, int(partition))] = int(str(offset))
    return marked


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
    def __init__(self, redis: RedisClient, *, dedupe_window: timedelta, clock_skew: timedelta,
                 retention: timedelta, mark_bucket_bits: int = 16, accounting: AccountingStore | None = None,
                 hot_bucket_bits: int | None = None) -> None:
        """`hot_bucket_bits`: the hot slices' bits, by default those holding an hour of the rate the cold
        bits are sized for (`hot_bits`); the memory bench sets both to hold its keys at their sizing point."""
        self._redis = redis
        self._space = key_space(redis)
        # Where the counted and duplicate figures go, in the same transaction (None: not kept).
        self._accounting = accounting
        self._key_memory = dedupe_window + clock_skew
        self._clock_skew = clock_skew
        self._retention = retention
        # A slice as wide as a mark must outlive its write: W + skew past an event up to skew ahead.
        width = int((dedupe_window + 2 * clock_skew).total_seconds())
        self._cold = MarkLayout(COLD_MARKS_PREFIX, width, mark_bucket_bits, self._space, packed=True)
        self._hot = MarkLayout(HOT_MARKS_PREFIX, HOT_SLICE_S,
                               hot_bits(mark_bucket_bits) if hot_bucket_bits is None else hot_bucket_bits, self._space)
        # Read only, until its last marks expire (W + 2·skew after the upgrade); its slices name their bits.
        self._previous = MarkLayout(MARKS_PREFIX, width, 16, self._space)
        self._looked = [self._cold, self._previous]
        # On a cluster a key is claimed in its own slot group (cold and hot marks there, `claim`), and its
        # effects applied in its customer's, where a hot "applied" mark keeps the origin they were applied
        # for. On one node the marks and the effects are one transaction, as ever.
        self._applied = MarkLayout(APPLIED_MARKS_PREFIX, HOT_SLICE_S, self._hot.bits, self._space)
        self._counting = (_Tiers([self._applied, self._previous], None, [self._applied]) if self._space.clustered
                          else _Tiers(self._looked, self._hot, [self._cold, self._hot]))

    async def ping(self) -> object:
        return await self._redis.ping()

    async def known_keys(self, mode: Mode, idempotency_keys: Sequence[str]) -> set[str]:
        """Keys already counted, or claimed on a cluster (the gateway's early answer; the processor stays
        the judge). A key's mark is in its digest's slot group (the one group on a single node)."""
        return await marked_keys(self._redis, self._looked, mode, {key: digest(key) for key in idempotency_keys})

    @property
    def counted_layouts(self) -> list[MarkLayout]:
        """Where a counted key is marked (the gateway looks them up together with its own)."""
        return self._looked

    async def apply(self, events: Sequence[CountableEvent], now: datetime) -> BatchOutcome:
        """Count each not-yet-seen event once: marks and rollups in one transaction per slot group (one
        on a single node), each retried on conflict.

        On a single node the transaction holds every mark and every effect: exact. On a cluster the keys
        of one transaction share a slot, and an event's effects live in its customer's group, so the
        events are first claimed in their keys' own groups (`claim`): only the record holding its key's
        claim is counted, in its customer's group, under an "applied" mark naming its origin. Why that
        keeps exactly-once across a crash anywhere: a claim is durable once written and names its
        record, so a replay of that record finds its own claim and is counted if its applied mark is
        missing (killed between the phases) or `recounted` if present; any other record of the key is a
        duplicate, tallied in its customer's group by its origin, so a replay sets the same field again.
        Groups share no key, so their transactions are independent; a crash between two leaves the later
        group's events uncounted, and the replay counts exactly those. A batch whose records were all dead
        letters has nothing to count (and WATCH takes at least a key)."""
        held = await self.claim(events, now) if self._space.clustered else [True] * len(events)
        by_group: dict[int, tuple[list[CountableEvent], list[CountableEvent]]] = defaultdict(lambda: ([], []))
        for event, holds in zip(events, held, strict=True):
            claimed, taken = by_group[self._space.group_of_customer(event.customer_id)]
            (claimed if holds else taken).append(event)
        outcome = BatchOutcome()
        for part in await asyncio.gather(*(self._apply_group(claimed, taken, now, group)
                                           for group, (claimed, taken) in by_group.items())):
            outcome.extend(part)
        return outcome

    async def claim(self, events: Sequence[CountableEvent], now: datetime) -> list[bool]:
        """The first phase of counting on a cluster (`apply` runs both): whether each event holds its
        key's claim. One script per slot group of the keys (the group of the key's digest), sent
        concurrently, claims the batch's keys atomically: a key not marked cold yet gets its cold mark
        and a hot mark naming this record's origin (claimed); a marked key whose hot mark names this very
        record is its own claim again (a replay); any other marked key, or a later event of a key in the
        batch, lost to another record (a duplicate, as is a record whose claim's origin is swept). Two
        processors claiming one key at once: the script is atomic in the key's group, one of them wins.
        A claim sent again (a replay, or redis-py resending a script whose reply a failed connection
        lost) answers the same for a record with an origin, as every record the processor reads has."""
        first: dict[DedupeKey, int] = {}
        for index, event in enumerate(events):
            first.setdefault(event.dedupe_key, index)
        digests = {key: digest(key[1]) for key in first}
        by_group: dict[int, list[CountableEvent]] = defaultdict(list)
        for key, index in first.items():
            by_group[self._space.group_of_digest(digests[key])].append(events[index])
        now_s = int(now.timestamp())

        async def claim_group(claimed: list[CountableEvent], group: int) -> list[bool]:
            async def send() -> list[bool]:
                expiry = self._mark_expiry(claimed, now)
                writes = HashWrites()
                self._queue_positions(writes, self._hot, claimed, now_s, expiry, group)
                marks = [(e.mode, digests[e.dedupe_key], encode_origin(e.origin)) for e in claimed]
                script, keys, args = write_args([self._cold, self._hot], marks, now_s, expiry, checked=[self._cold],
                                                writes=writes, group=group, claim=True)
                before: list[int] = await self._redis.eval(script, len(keys), *keys, *args)
                # A key marked before is this record's own claim if its hot mark names this record: read
                # apart (rare), as the hot mark was written with the cold one and stays until swept.
                marked = [index for index, answer in enumerate(before) if int(answer)]
                origins = await self._hot_origins(
                    marked, [(claimed[i].mode, digests[claimed[i].dedupe_key]) for i in marked], group,
                    self._hot) if marked else {}
                return [not int(answer) or (e.origin is not None and origins.get(index) == e.origin)
                        for index, (e, answer) in enumerate(zip(claimed, before, strict=True))]
            return await with_known_slices(self._redis, [self._cold, self._hot], [group], send)
        await ready(self._redis)
        answers = await asyncio.gather(*(claim_group(part, group) for group, part in by_group.items()))
        claimed_by_first = {event.dedupe_key: holding for part, holds in zip(by_group.values(), answers, strict=True)
                            for event, holding in zip(part, holds, strict=True)}
        # A later event of a key holds nothing, unless it is a copy of the claiming record (a spool produced
        # it twice into one fetch): the count then finds it `recounted`, not a duplicate.
        return [claimed_by_first[e.dedupe_key] and (index == first[e.dedupe_key] or (
                    e.origin is not None and e.origin == events[first[e.dedupe_key]].origin))
                for index, e in enumerate(events)]

    async def _apply_group(self, events: Sequence[CountableEvent], taken: Sequence[CountableEvent], now: datetime,
                           group: int) -> BatchOutcome:
        """Count `events` of slot group `group`; `taken` are events whose key another record claimed (on a
        cluster): duplicates, accounted in the same step."""
        async def count() -> BatchOutcome:
            while True:
                try:
                    return await self._apply_once(events, taken, now, group)
                except WatchError:
                    continue
        # A script that finds a slice this process has not read yet (at start, at each new slice) writes
        # nothing and is sent again once the registries are read.
        return await with_known_slices(self._redis, self._counting.layouts, [group], count)

    async def _apply_once(self, events: Sequence[CountableEvent], taken: Sequence[CountableEvent], now: datetime,
                          group: int) -> BatchOutcome:
        keys = list(dict.fromkeys(e.dedupe_key for e in events))
        digests = {key: digest(key[1]) for key in keys}
        reads = reads_needed(events)
        watched = [*map(self._space.rollups, reads.rollups), *map(self._space.distinct, reads.distinct)]
        async with await transaction(self._redis) as tx:
            # Marks are not WATCHed: a bucket holds many keys, and two workers would abort each other's
            # every transaction. The write script checks, atomically, that no key it marks was marked
            # since the read (MarkConflict, retried like a WatchError).
            if watched:
                await tx.watch(*watched)
            outcome, changes = count_batch(events, await self._read(keys, digests, reads, group))
            outcome.duplicates += taken
            if not outcome.counted and not self._accounts(outcome.duplicates):
                return outcome
            writes = HashWrites()
            self._queue_changes(writes, changes)
            if self._accounting is not None:
                # The figures of docs/accounting.md, decided here: a key is marked once, so counted once; a
                # duplicate record sets its own field again on a replay (accounting_store.py).
                self._accounting.queue_outcome(writes, outcome, group)
            begin_multi(tx)
            self._queue_marks(tx, outcome.counted, digests, now, writes, group)
            [written] = await tx.execute()
        if not written:
            raise MarkConflict("a key of the batch was marked meanwhile")
        return outcome

    def _accounts(self, duplicates: Sequence[CountableEvent]) -> bool:
        return self._accounting is not None and any(e.receipt is not None for e in duplicates)

    def _queue_lookup(self, pipe: Pipeline | ClusterPipeline, keys: Sequence[tuple[Mode, str]],
                      digests: Sequence[bytes], group: int) -> None:
        """One reply: each key's mark in `group`, cold or of the previous layout (read until they expire)."""
        script, names, args = lookup_args(self._counting.looked,
                                          ((mode, d) for (mode, _), d in zip(keys, digests, strict=True)), group)
        pipe.eval(script, len(names), *names, *args)

    async def _hot_origins(self, keys: Sequence[_K], marks: Sequence[tuple[Mode, bytes]], group: int,
                           origins: MarkLayout) -> dict[_K, str]:
        """The origin the hot tier keeps for each of `keys` (cold marks: the rare duplicate or replay)."""
        script, names, args = lookup_args([origins], marks, group)
        replies: list[str | None] = await self._redis.eval(script, len(names), *names, *args)
        return {key: origin for key, reply in zip(keys, replies, strict=True)
                if reply is not None and (origin := decode_origin(mark_value(reply))) is not None}

    async def _read(self, keys: list[tuple[Mode, str]], digests: dict[tuple[Mode, str], bytes],
                    reads: Reads, group: int) -> StoredState:
        pipe = self._redis.pipeline(transaction=False)
        self._queue_lookup(pipe, keys, [digests[key] for key in keys], group)
        for key in reads.rollups:
            pipe.hgetall(self._space.rollups(key))
        for key, values in reads.distinct.items():
            pipe.hmget(self._space.distinct(key), values)
        results = iter(await pipe.execute())
        hits = {key: mark_value(mark) for key, mark in zip(keys, next(results), strict=True) if mark is not None}
        # A previous-layout mark holds its origin; a cold one has it in the hot tier while it may be asked.
        origins = {key: origin for key, value in hits.items() if (origin := decode_origin(value)) is not None}
        cold = [key for key, value in hits.items() if not value]
        if cold and self._counting.origins is not None:
            origins |= await self._hot_origins(cold, [(mode, digests[(mode, k)]) for mode, k in cold], group,
                                               self._counting.origins)
        rollups = {key: decode_rollups(next(results)) for key in reads.rollups}
        distinct = {key: {value: int(mask or 0) for value, mask in zip(values, next(results), strict=True)}
                    for key, values in reads.distinct.items()}
        return StoredState(set(hits), rollups, distinct, origins)

    def _queue_marks(self, tx: Pipeline | ClusterPipeline, counted: Sequence[CountableEvent],
                     digests: dict[tuple[Mode, str], bytes], now: datetime, writes: HashWrites, group: int) -> None:
        """One script for all marks and the rollup writes, inside the MULTI/EXEC: a command per event
        would make the client, not Redis, the bottleneck."""
        expiry, now_s = self._mark_expiry(counted, now), int(now.timestamp())
        marks = [(e.mode, digests[e.dedupe_key], encode_origin(e.origin)) for e in counted]
        self._queue_positions(writes, self._counting.written[-1], counted, now_s, expiry, group)
        script, keys, args = write_args(self._counting.written, marks, now_s, expiry, checked=self._counting.looked,
                                        writes=writes, group=group)
        tx.eval(script, len(keys), *keys, *args)

    def _mark_expiry(self, events: Sequence[CountableEvent], now: datetime) -> int:
        """Until when the marks of `events` are kept: a key is remembered at least until its event's time
        + W + skew (docs/billing.md, "Deduplication")."""
        latest = max((e.timestamp for e in events), default=now)
        return math.ceil(max(latest + self._key_memory, now + self._clock_skew).timestamp())

    def _queue_positions(self, writes: HashWrites, hot: MarkLayout, marked: Sequence[CountableEvent], now_s: int,
                         expiry: int, group: int) -> None:
        """Beside the `hot` slice written, the highest offset it marks per partition: what the sweep waits
        for the processors to commit past."""
        name, slice_expiry = hot.slice_of(now_s)
        highest: dict[tuple[Mode, str, int], int] = {}
        for e in marked:
            if (position := e.position) is not None:
                where = (e.mode, position.topic, position.partition)
                highest[where] = max(position.offset, highest.get(where, -1))
        for (mode, topic, partition), offset in highest.items():
            writes.hmax(MarkLayout.beside(hot.registry(mode, group), name), f"{topic}:{partition}", offset,
                        max(slice_expiry, expiry))

    async def sweep_hot_marks(self, committed: CommittedOffsets, now: datetime) -> int:
        """Drop every hot slice that no replay can ask for any more: an hour past its end (no processor
        writes into it, whatever its clock), and the processors' committed offsets past the highest
        offset it marks in every partition. Until then it stays, however long the processors are down.
        Idempotent, and safe to kill anywhere: the slice stays listed until its buckets are gone.
        Returns how many slices were dropped.

        On a cluster the applied marks go last, and a slice of them only once no claim slice (of any
        group) that may hold the claims of its records is listed any more: one starting before its end
        (a claim precedes its count, on clocks less than an hour apart). A claim that outlived its applied
        mark would make a record produced again by a gateway's spool look claimed and never counted, and
        count it twice; an applied mark that outlives its claim is never asked (the claim answers first:
        a duplicate)."""
        dropped, now_s = 0, int(now.timestamp())
        for group in self._space.all_groups():
            for registry in self._hot.registries(group):
                dropped += await self._sweep(self._hot, registry, committed, now_s, None)
        if not self._space.clustered:
            return dropped
        claims_from: dict[Mode, float] = {}
        for mode in Mode:
            starts = [int(str(name).split(":")[0]) for group in self._space.all_groups()
                      for name in await self._redis.hkeys(self._hot.registry(mode, group))]
            claims_from[mode] = min(starts, default=math.inf)
        for group in self._space.all_groups():
            for mode in Mode:
                dropped += await self._sweep(self._applied, self._applied.registry(mode, group), committed, now_s,
                                             claims_from[mode])
        return dropped

    async def _sweep(self, hot: MarkLayout, registry: str, committed: CommittedOffsets, now_s: int,
                     claims_from: float | None) -> int:
        """`sweep_hot_marks` in one registry; `claims_from`: the earliest start of a claim slice still
        listed, before the end of which a slice stays (None: no such condition)."""
        dropped = 0
        for name in map(str, await self._redis.hkeys(registry)):
            start, width, _ = (int(part) for part in name.split(":"))
            if now_s < start + 2 * width or (claims_from is not None and claims_from <= start + width):
                continue
            marked = _offsets(await self._redis.hgetall(MarkLayout.beside(registry, name)))
            passed = await committed(list(marked)) if marked else {}
            if any(passed.get(tp, 0) <= offset for tp, offset in marked.items()):
                continue
            buckets = hot.slice_buckets(registry, name)
            for at in range(0, len(buckets), _UNLINK_CHUNK):
                await self._redis.unlink(*buckets[at:at + _UNLINK_CHUNK])
            await self._redis.unlink(MarkLayout.beside(registry, name))
            await self._redis.hdel(registry, name)
            dropped += 1
        return dropped

    def _queue_changes(self, tx: HashWrites, changes: Changes) -> None:
        for key, hours in changes.rollups.items():
            mapping: dict[str, str] = {}
            for hour, rollup in hours.items():
                mapping |= encode_rollup(hour, rollup)
            tx.hset(self._space.rollups(key), mapping=mapping)
            tx.expireat(self._space.rollups(key), self._expiry(key.day))
        for key, masks in changes.distinct.items():
            tx.hset(self._space.distinct(key), mapping={value: str(mask) for value, mask in masks.items()})
            tx.expireat(self._space.distinct(key), self._expiry(key.day))

    def _expiry(self, day: int) -> int:
        return int((Window(day, 0).start + timedelta(days=1) + self._retention).timestamp())

    async def usage(self, queries: Sequence[UsageQuery], known: Collection[Metric] = ()) -> list[PeriodUsage]:
        """Period figures of hour-aligned periods (the rollups' grain; `application/exact_usage.py` answers
        any period to the second). The rollups are keyed by metric id: `known` is not needed here."""
        return [PeriodUsage(rollup, len(values)) for rollup, values in await self.usage_parts(queries)]

    async def usage_parts(self, queries: Sequence[UsageQuery]) -> list[tuple[Rollup, set[str]]]:
        """For many hour-aligned (metric, customer, period) at once, in one pipelined round trip: the
        merged rollup and the distinct values seen (read only where the query asks for them).

        The hashes are read by a script, thousands per call: a close of 100,000 subscriptions reads
        ~400,000 of them (most empty), and one HGETALL command each spent most of the closer's CPU in
        the client packing commands and parsing replies."""
        plans: list[list[DaySlice]] = []
        keys: list[tuple[int, str]] = []
        for query in queries:
            plans.append(list(day_slices(query.period)))
            group = self._space.group_of_customer(query.customer_id)
            for piece in plans[-1]:
                key = RollupKey(query.mode, query.metric_id, query.customer_id, piece.day)
                keys.append((group, self._space.rollups(key)))
                if query.distinct:
                    keys.append((group, self._space.distinct(key)))
        hashes = iter(await self._read_hashes(keys))
        return [period_parts((piece, decode_rollups(next(hashes)),
                              {value: int(mask) for value, mask in next(hashes).items()} if query.distinct else {})
                             for piece in slices)
                for query, slices in zip(queries, plans, strict=True)]

    async def _read_hashes(self, keys: Sequence[tuple[int, str]]) -> list[dict[str, str]]:
        """Every hash of `keys` (slot group, name), in their order, in one pipelined round trip; each script
        call reads one group's hashes (on a cluster a script runs on one slot's keys)."""
        positions: dict[int, list[int]] = defaultdict(list)
        for index, (group, _) in enumerate(keys):
            positions[group].append(index)
        calls: list[list[int]] = []
        reads = self._redis.pipeline(transaction=False)
        for indexes in positions.values():
            for start in range(0, len(indexes), _HASHES_PER_CALL):
                calls.append(indexes[start:start + _HASHES_PER_CALL])
                reads.eval(_READ_HASHES, len(calls[-1]), *(keys[index][1] for index in calls[-1]))
        found: list[dict[str, str]] = [{} for _ in keys]
        for call, reply in zip(calls, await reads.execute(), strict=True):
            for index, flat in zip(call, reply, strict=True):
                found[index] = dict(zip(flat[::2], flat[1::2], strict=True))
        return found

    async def replace_hours(self, mode: Mode, metric_ids: Sequence[str], hours: Period,
                            rebuilt: Changes) -> list[ChangedHour]:
        """Replay's write: every hour of `hours` of these metrics' rollups becomes what `rebuilt` says
        (an hour it does not name becomes empty), for every customer that has a rollup there or in
        `rebuilt`. Other hours of a day are kept. Each day is rewritten under WATCH, like `apply`, so a
        processor counting into the same day at once makes one of the two retry against the other.
        Returns the hours whose figures changed."""
        changed: list[ChangedHour] = []
        pieces = list(day_slices(hours))
        for metric_id in metric_ids:
            stored = await self._customers_with_rollups(mode, metric_id, {piece.day for piece in pieces})
            for piece in pieces:
                customers = stored[piece.day] | {key.customer_id for key in rebuilt.rollups
                                                 if key.metric_id == metric_id and key.day == piece.day}
                for customer in customers:
                    key = RollupKey(mode, metric_id, customer, piece.day)
                    changed += [ChangedHour(customer, metric_id, hour_start(piece.day, hour))
                                for hour in await self._replace_day(key, piece, rebuilt.rollups.get(key, {}),
                                                                    rebuilt.distinct.get(key, {}))]
        return changed

    async def _customers_with_rollups(self, mode: Mode, metric_id: str, days: set[int]) -> dict[int, set[str]]:
        """The customers with a rollup of the metric on each of `days`: one SCAN of the keyspace per
        metric (a SCAN per day made a month's replay walk the whole keyspace 31 times per metric)."""
        found: dict[int, set[str]] = {day: set() for day in days}
        async for name in self._redis.scan_iter(match=self._space.rollups_pattern(mode, metric_id), count=10_000):
            *_, customer, day = str(name).split(":")
            if int(day) in found:
                found[int(day)].add(customer)
        return found

    async def _replace_day(self, key: RollupKey, piece: DaySlice, hours: dict[int, Rollup],
                           masks: dict[str, int]) -> list[int]:
        while True:
            try:
                async with await transaction(self._redis) as tx:
                    await tx.watch(self._space.rollups(key), self._space.distinct(key))
                    fields = await tx.hgetall(self._space.rollups(key))
                    stored_masks = await tx.hgetall(self._space.distinct(key))
                    stale = [f for f in fields if piece.covers(int(str(f).split(":")[0]))]
                    before = {str(v): int(m) for v, m in stored_masks.items()}
                    rewrite = replaced_masks(piece, before, masks)
                    rebuilt = {hour: rollup for hour, rollup in hours.items() if piece.covers(hour)}
                    begin_multi(tx)
                    if stale:
                        tx.hdel(self._space.rollups(key), *stale)
                    if rebuilt:
                        tx.hset(self._space.rollups(key), mapping={
                            field: value for hour, rollup in rebuilt.items()
                            for field, value in encode_rollup(hour, rollup).items()})
                        tx.expireat(self._space.rollups(key), self._expiry(key.day))
                    if rewrite.emptied:
                        tx.hdel(self._space.distinct(key), *rewrite.emptied)
                    if rewrite.kept:
                        tx.hset(self._space.distinct(key), mapping={v: str(m) for v, m in rewrite.kept.items()})
                        tx.expireat(self._space.distinct(key), self._expiry(key.day))
                    await tx.execute()
                    stored = decode_rollups({str(f): str(v) for f, v in fields.items()})
                    return changed_hours(piece, stored, hours, before, masks)
            except WatchError:
                continue

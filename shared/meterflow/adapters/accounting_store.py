"""Redis layout of the accounting figures (docs/accounting.md): one small set of keys per
(mode, hour of receipt), each written where its outcome is decided, so every figure is exact.

`mf:acct:{mode}:{hour}` — `{hour}` is the hour's start in Unix seconds:
- `…` (hash): `counted:h`, `counted:d` (HTTP, direct), incremented by the processor's counting script in
  the same atomic step as the dedupe marks (`usage_store.py`): a key is marked once, so counted once,
  and a replay that finds its mark (`recounted`) adds nothing; `lost` (set by a loss check) and
  `lost_ack` (how much of it ops acknowledged);
- `…:ack` (hash): acknowledged over HTTP, one field per writer with that writer's count. A writer that
  keeps a durable count of its own (the gateway's write-ahead spool) HSETs its ABSOLUTE value under its
  stable id, so publishing again after a crash or a lost reply changes nothing; the gateway's interim
  writer increments the field `gateway` after the broker's acknowledgement;
- `…:dup:h`, `…:dup:d` (hashes): one field per duplicate record (its origin token: partition, offset,
  event time), written with the marks; HLEN is the count, and a replayed duplicate sets its field again;
- `…:dl:h`, `…:dl:d` (hashes): one field per dead-lettered record (topic, partition, offset, timestamp),
  written once the dead-letter topic acknowledged the letter, and again, harmlessly, if it is sent again.

On a cluster (`redis_keys.py`), `counted` and the duplicates are kept per slot group, beside the marks
of the transaction that decides them, and summed over the groups when read; the other figures are
written outside any counting transaction and kept in group 0 only.

Every key expires `retention` after its hour ends. Duplicates and dead letters cost one field each
(~30 to 70 B); the other figures a few fields per hour.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from meterflow.adapters.dedupe_marks import HashWrites
from meterflow.adapters.redis_client import RedisClient, key_space, transaction
from meterflow.adapters.redis_keys import ACCOUNTING_PREFIX, SINGLE_NODE, KeySpace
from meterflow.domain.accounting import HOUR, HourTally, Receipt, Source, hour_of
from meterflow.domain.counting import BatchOutcome
from meterflow.domain.modes import Mode

INTERIM_WRITER = "gateway"

# KEYS: per hour, its keys in `_HOUR_PARTS` order (all of one slot group). Per hour: acknowledged (sum
# over writers), counted h/d, duplicates h/d, dead-lettered h/d, lost, lost acknowledged. One call reads
# hundreds of hours (the gauge reads the whole retention at each scrape).
_HOUR_PARTS = ("", ":ack", ":dup:h", ":dup:d", ":dl:h", ":dl:d")
_READ = """
local out = {}
for i = 1, #KEYS, 6 do
  local ack = 0
  for _, v in ipairs(redis.call('HVALS', KEYS[i + 1])) do ack = ack + tonumber(v) end
  local c = redis.call('HMGET', KEYS[i], 'counted:h', 'counted:d', 'lost', 'lost_ack')
  out[#out + 1] = {ack, tonumber(c[1] or '0'), tonumber(c[2] or '0'),
                   redis.call('HLEN', KEYS[i + 2]), redis.call('HLEN', KEYS[i + 3]),
                   redis.call('HLEN', KEYS[i + 4]), redis.call('HLEN', KEYS[i + 5]),
                   tonumber(c[3] or '0'), tonumber(c[4] or '0')}
end
return out
"""

# KEYS: the hours' base keys: what each has lost becomes acknowledged. Returns the count acknowledged.
_ACKNOWLEDGE_LOSS = """
local total = 0
for _, base in ipairs(KEYS) do
  local lost = tonumber(redis.call('HGET', base, 'lost') or '0')
  local seen = tonumber(redis.call('HGET', base, 'lost_ack') or '0')
  if lost > seen then
    redis.call('HSET', base, 'lost_ack', lost)
    total = total + lost - seen
  end
end
return total
"""


def hour_key(mode: Mode, hour: datetime, space: KeySpace = SINGLE_NODE, group: int = 0) -> str:
    return space.named(ACCOUNTING_PREFIX, mode, group, int(hour.timestamp()))


class AccountingStore:
    """The accounting figures in Redis: the acknowledged tally, dead letters, loss records, and reads.
    Counted and duplicates are written by the counting transaction (`queue_outcome`)."""

    def __init__(self, redis: RedisClient, retention: timedelta) -> None:
        self._redis = redis
        self._space = key_space(redis)
        self._retention = retention

    def _expiry(self, hour: datetime) -> int:
        return int((hour + HOUR + self._retention).timestamp())

    def queue_outcome(self, writes: HashWrites, outcome: BatchOutcome, group: int = 0) -> None:
        """The counted and duplicate figures of a batch of slot group `group`, into the counting script's
        atomic step. The counted events are tallied per receipt first: a batch of thousands shares a
        few, and a key name and an increment per event were ~3 µs of the processor's CPU an event."""
        for (mode, hour, source), n in Counter(e.receipt for e in outcome.counted if e.receipt is not None).items():
            writes.hincrby(hour_key(mode, hour, self._space, group), f"counted:{source.value}", n, self._expiry(hour))
        for event in outcome.duplicates:
            if event.receipt is not None and event.origin is not None:
                mode, hour, source = event.receipt
                key = f"{hour_key(mode, hour, self._space, group)}:dup:{source.value}"
                writes.hset(key, {event.origin: ""})
                writes.expireat(key, self._expiry(hour))

    async def add(self, mode: Mode, received_at: datetime, count: int) -> None:
        """The gateway's interim tally: `count` events acknowledged over HTTP, received in `received_at`'s
        hour (an increment; the spool publishes absolute counts instead)."""
        if count:
            hour = hour_of(received_at)
            pipe = await transaction(self._redis)
            pipe.hincrby(f"{hour_key(mode, hour, self._space)}:ack", INTERIM_WRITER, count)
            pipe.expireat(f"{hour_key(mode, hour, self._space)}:ack", self._expiry(hour))
            await pipe.execute()

    async def publish(self, writer: str, counts: Mapping[tuple[Mode, datetime], int]) -> None:
        """A writer's ABSOLUTE acknowledged count per (mode, hour): idempotent, so a writer may publish
        again whenever it is unsure the last one landed."""
        if writer == INTERIM_WRITER:
            raise ValueError(f"writer id {writer!r} is the interim tally's")
        pipe = self._redis.pipeline(transaction=False)
        for (mode, hour), count in counts.items():
            pipe.hset(f"{hour_key(mode, hour, self._space)}:ack", writer, str(count))
            pipe.expireat(f"{hour_key(mode, hour, self._space)}:ack", self._expiry(hour))
        await pipe.execute()

    async def dead_lettered(self, letters: Sequence[tuple[Receipt, str, str]]) -> None:
        """(receipt, record position, category) of letters the dead-letter topic acknowledged."""
        if not letters:
            return
        pipe = self._redis.pipeline(transaction=False)
        for (mode, hour, source), position, category in letters:
            key = f"{hour_key(mode, hour, self._space)}:dl:{source.value}"
            pipe.hset(key, position, category)
            pipe.expireat(key, self._expiry(hour))
        await pipe.execute()

    async def tallies(self, mode: Mode, hours: Sequence[datetime]) -> list[HourTally]:
        if not hours:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for group in self._space.all_groups():
            keys = [hour_key(mode, hour, self._space, group) + part for hour in hours for part in _HOUR_PARTS]
            pipe.eval(_READ, len(keys), *keys)
        # Field by field, the sum over the groups (a figure a group does not keep reads 0 there).
        sums = [[sum(int(figure) for figure in figures) for figures in zip(*per_group, strict=True)]
                for per_group in zip(*await pipe.execute(), strict=True)]
        return [HourTally(ack, {Source.HTTP: ch, Source.DIRECT: cd}, {Source.HTTP: duph, Source.DIRECT: dupd},
                          {Source.HTTP: dlh, Source.DIRECT: dld}, lost, lost_ack)
                for ack, ch, cd, duph, dupd, dlh, dld, lost, lost_ack in sums]

    async def record_loss(self, mode: Mode, lost: Mapping[datetime, int]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for hour, count in lost.items():
            pipe.hset(hour_key(mode, hour, self._space), "lost", str(count))
            pipe.expireat(hour_key(mode, hour, self._space), self._expiry(hour))
        await pipe.execute()

    async def acknowledge_loss(self, mode: Mode, hours: Iterable[datetime]) -> int:
        bases = [hour_key(mode, hour, self._space) for hour in hours]
        return int(await self._redis.eval(_ACKNOWLEDGE_LOSS, len(bases), *bases)) if bases else 0

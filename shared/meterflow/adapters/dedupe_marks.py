"""Redis layout of remembered idempotency keys: small hashes, a few bytes a key (docs/billing.md, "Deduplication").

A mark is one field of a small hash, never a top-level Redis key of its own: a top-level key costs ~50 B
of table entry, object header and expiry record before its name and value. Marks are grouped by
**slice** (the time the mark was written, `width_s` = W + 2·skew wide) and **bucket** (the top `bits`
bits of the key's digest); the field is the rest of the digest (10 bytes) and the value is the mark's
payload (the processor's compact origin, or nothing). A bucket holds tens to a few hundred fields, so
Redis keeps it as a listpack (`hash-max-listpack-entries`, 512 on Valkey 9; more per bucket and it
becomes a hashtable, ~54 B a key, still correct). The whole bucket expires at once, at the end of its
slice + W + 2·skew, so a mark lives at least W + skew past its event's time (events are refused past
now + skew) and at most one slice width longer: with the default W of 7 days, marks live 7 to 14 days,
10.5 on average.

Slices are listed in a small registry hash per mode (`{prefix}:{mode}`, field `start:width:bits` →
expiry; on a Redis Cluster one per mode and slot group, behind the group's hash tag, `redis_keys.py`):
a lookup checks every slice still alive (with the default settings, the current and the previous one).
Because every slice is named with its own width and bucket count, changing W or
`MF_DEDUPE_MARK_BUCKET_BITS` never hides a mark written before the change.

The digest is BLAKE2b-96 of the key, as before this layout; `bits` (8 to 16) select the bucket and the
last 80 bits are the field, so 88 to 96 bits tell keys apart: with 10^9 keys remembered at once, the chance
that any two collide (one would be dropped as the other's duplicate) is below 2·10^-9 (bits = 8) and
~10^-10 at the default 12.

Everything that decides is in Lua, so it is atomic: the write checks, in the same step as it writes the
marks and the rollups, that no mark appeared since the read (docs/exactly-once.md). Marks written by
the previous layout (`s` + mode letter + digest → origin, string keys, before 2026-11) are still read
until they expire (W + skew after the upgrade); none is written any more.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from redis.exceptions import ResponseError

from meterflow.adapters.redis_client import RedisClient
from meterflow.adapters.redis_keys import SINGLE_NODE, KeySpace
from meterflow.domain.modes import Mode

DIGEST_BYTES = 12
_MODE_BYTE = {Mode.TEST: b"t", Mode.LIVE: b"l"}
_LEGACY_PREFIX = {Mode.TEST: b"st", Mode.LIVE: b"sl"}
_HSET_CHUNK = 500  # field-value pairs per HSET: Lua's unpack stops near 8,000 values
_T = TypeVar("_T")
# Times a call is sent again on a newer view of the slices before its error is raised (a view is stale
# once at start and at each new slice; twice in a row is a race with a slice starting).
_RELEARN_LIMIT = 3
# The error a script answers when the caller's view of the slices is out of date (`is_stale_slices`).
STALE_SLICES = "STALESLICES"

# Shared by the scripts: the slices of each mode as {bucket key prefix, divisor of the 16-bit digest
# head}. Every slice listed is looked in, expired or not: a bucket is gone once Redis expires it, and the
# registry is pruned at the next write. KEYS[1], KEYS[2] are the test and live registries; a digest
# argument is the mode byte followed by the 12-byte digest.
#
# Every key a script touches is in its KEYS (Redis Cluster routes a script by them, and a cluster must see
# them): the caller names the buckets from the slices it last read in the registries (`MarkLayout`). The
# registry is read again here; a bucket of a slice the caller did not know of is never touched: the script
# answers STALE_SLICES before writing anything, and the caller reads the registries and sends it again.
_LIVE_SLICES = """
local declared, stale = {}, false
for i = 1, #KEYS do declared[KEYS[i]] = true end
local function live(registry)
  local slices, entries = {}, redis.call('HGETALL', registry)
  for i = 1, #entries, 2 do
    local bits = tonumber(string.match(entries[i], ':(%d+)$'))
    slices[#slices + 1] = {registry .. ':' .. entries[i] .. ':', 2 ^ (16 - bits)}
  end
  return slices
end
local function find(slices, d)
  local head = string.byte(d, 2) * 256 + string.byte(d, 3)
  local f = string.sub(d, 4)
  for _, s in ipairs(slices) do
    local bucket = s[1] .. math.floor(head / s[2])
    if not declared[bucket] then stale = true return false end
    local v = redis.call('HGET', bucket, f)
    if v then return v end
  end
  return false
end
local function slices_of()
  return {t = live(KEYS[1]), l = live(KEYS[2])}
end
local function stale_reply()
  return redis.error_reply('""" + STALE_SLICES + """ a registry lists a slice the caller did not declare')
end
"""

# Values come back in hex: the clients decode replies as UTF-8, and a mark's value is binary. With
# ARGV[1] = '1', a key not found is looked up in the previous layout too (`s` + mode letter + digest,
# which is `s` .. the argument, declared by the caller), and its text value comes back behind an `L`.
_LOOKUP = _LIVE_SLICES + """
local function hex(c) return string.format('%02x', string.byte(c)) end
local slices, out, legacy = slices_of(), {}, ARGV[1] == '1'
for i = 2, #ARGV do
  local d = ARGV[i]
  local v = find(slices[string.sub(d, 1, 1)], d)
  if v then
    out[i - 1] = (string.gsub(v, '.', hex))
  else
    local old = legacy and redis.call('GET', 's' .. d)
    out[i - 1] = old and ('L' .. old) or false
  end
end
if stale then return stale_reply() end
return out
"""

# Whether each key is marked in any of several layouts (the gateway asks the processor's and its own in
# one call, with each digest sent once). KEYS: the test and live registries of each layout in turn, then
# the buckets (and previous-layout keys); ARGV[1] = '1' to look in the previous processor layout too,
# ARGV[2] = how many registries; then the digest arguments. 1 or 0 a key.
_ANY = _LIVE_SLICES + """
local layouts = {}
for k = 1, tonumber(ARGV[2]), 2 do layouts[#layouts + 1] = {t = live(KEYS[k]), l = live(KEYS[k + 1])} end
local out, legacy = {}, ARGV[1] == '1'
for i = 3, #ARGV do
  local d, hit = ARGV[i], 0
  local m = string.sub(d, 1, 1)
  for _, slices in ipairs(layouts) do
    if find(slices[m], d) then hit = 1 break end
  end
  if hit == 0 and legacy and redis.call('EXISTS', 's' .. d) == 1 then hit = 1 end
  out[i - 2] = hit
end
if stale then return stale_reply() end
return out
"""

# KEYS: the registries, the hashes of `writes` (one per section below, in order), then the buckets.
# ARGV: now, check (1 = refuse if any mark already exists), slice field name, slice expiry, divisor,
# n marks, n digests, n values, then for each hash: op ('h': HSET the pairs, 'i': HINCRBY each
# field by its value), expiry, n pairs, pairs.
# Returns 0 (nothing written) when a mark appeared since the caller read, else 1.
_WRITE = _LIVE_SLICES + """
local now, check, name, expiry = tonumber(ARGV[1]), ARGV[2] == '1', ARGV[3], tonumber(ARGV[4])
local divisor, n = tonumber(ARGV[5]), tonumber(ARGV[6])
if check then
  local slices = slices_of()
  for i = 7, 6 + n do
    local d = ARGV[i]
    if find(slices[string.sub(d, 1, 1)], d) then return 0 end
  end
  if stale then return stale_reply() end
end
local function bucket_of(d)
  local head = string.byte(d, 2) * 256 + string.byte(d, 3)
  return (string.sub(d, 1, 1) == 't' and KEYS[1] or KEYS[2]) .. ':' .. name .. ':' .. math.floor(head / divisor)
end
for i = 7, 6 + n do
  if not declared[bucket_of(ARGV[i])] then return stale_reply() end
end
local touched = {}
for i = 7, 6 + n do
  local d = ARGV[i]
  local registry = string.sub(d, 1, 1) == 't' and KEYS[1] or KEYS[2]
  if touched[registry] == nil then
    local stored = tonumber(redis.call('HGET', registry, name) or '0')
    if stored < expiry then redis.call('HSET', registry, name, expiry) else expiry = stored end
    local entries = redis.call('HGETALL', registry)
    for j = 1, #entries, 2 do
      if tonumber(entries[j + 1]) <= now then redis.call('HDEL', registry, entries[j]) end
    end
    redis.call('EXPIREAT', registry, expiry, 'GT')
    redis.call('EXPIREAT', registry, expiry, 'NX')
    touched[registry] = {}
  end
  local bucket = bucket_of(d)
  redis.call('HSET', bucket, string.sub(d, 4), ARGV[6 + n + i - 6])
  if touched[registry][bucket] == nil then
    redis.call('EXPIREAT', bucket, expiry)
    touched[registry][bucket] = true
  end
end
local a, k = 7 + 2 * n, 3
while a <= #ARGV do
  local op, at, pairs_n = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])
  local first = a + 3
  if op == 'i' then
    for i = first, a + 2 + 2 * pairs_n, 2 do redis.call('HINCRBY', KEYS[k], ARGV[i], ARGV[i + 1]) end
  else
    while first < a + 3 + 2 * pairs_n do
      local last = math.min(first + 2 * """ + str(_HSET_CHUNK) + """ - 1, a + 2 + 2 * pairs_n)
      redis.call('HSET', KEYS[k], unpack(ARGV, first, last))
      first = last + 1
    end
  end
  redis.call('EXPIREAT', KEYS[k], at)
  a, k = a + 3 + 2 * pairs_n, k + 1
end
return 1
"""


def digest(idempotency_key: str) -> bytes:
    return hashlib.blake2b(idempotency_key.encode(), digest_size=DIGEST_BYTES).digest()


def legacy_key(mode: Mode, key_digest: bytes) -> bytes:
    """The previous layout's string key of a mark (read until the last of them expires)."""
    return _LEGACY_PREFIX[mode] + key_digest


def any_marked_args(layouts: Sequence[MarkLayout], marks: Iterable[tuple[Mode, bytes]], *, legacy: bool,
                    group: int = 0) -> tuple[str, list[str | bytes], list[Any]]:
    """The script answering, for each (mode, digest), 1 if any of `layouts` marks it in slot group
    `group`, else 0; with `legacy`, a mark of the processor's previous layout counts too (single node only:
    those string keys were never written on a cluster, and are in no group's slot)."""
    marks = list(marks)
    registries = [registry for layout in layouts for registry in layout.registries(group)]
    legacy = legacy and not any(layout.space.clustered for layout in layouts)
    keys: list[str | bytes] = [*registries, *(bucket for layout in layouts for bucket in layout.buckets(marks, group))]
    keys += _legacy_keys(marks) if legacy else []
    return _ANY, keys, ["1" if legacy else "0", len(registries), *(_MODE_BYTE[mode] + d for mode, d in marks)]


def _legacy_keys(marks: Iterable[tuple[Mode, bytes]]) -> list[bytes]:
    return list(dict.fromkeys(legacy_key(mode, d) for mode, d in marks))


def is_stale_slices(exc: BaseException) -> bool:
    """Whether a script refused to run on an out-of-date view of the slices (read them, send it again)."""
    return isinstance(exc, ResponseError) and STALE_SLICES in str(exc)


async def learn_slices(redis: RedisClient, layouts: Sequence[MarkLayout], groups: Iterable[int]) -> None:
    """Read the registries of `groups`, so the next scripts name every bucket they may touch."""
    named = [(layout, registry) for group in groups for layout in layouts for registry in layout.registries(group)]
    pipe = redis.pipeline(transaction=False)
    for _, registry in named:
        pipe.hkeys(registry)
    for (layout, registry), fields in zip(named, await pipe.execute(), strict=True):
        layout.learn(registry, fields)


async def with_known_slices(redis: RedisClient, layouts: Sequence[MarkLayout], groups: Iterable[int],
                            call: Callable[[], Awaitable[_T]]) -> _T:
    """`call` (which sends scripts built from `layouts`), sent again after reading the registries when a
    script found a slice its caller did not know (at start, and when a new slice begins)."""
    groups = list(groups)
    for _ in range(_RELEARN_LIMIT):
        try:
            return await call()
        except ResponseError as exc:
            if not is_stale_slices(exc):
                raise
        await learn_slices(redis, layouts, groups)
    return await call()


def mark_value(reply: str) -> tuple[bytes, bool]:
    """A lookup's reply for a found mark: its value, and whether it is a previous-layout (text) one."""
    return (reply[1:].encode(), True) if reply.startswith("L") else (bytes.fromhex(reply), False)


@dataclass
class HashWrites:
    """Hash writes (fields set, or counters incremented, and an expiry) to run inside the marks' script,
    in its atomic step: an increment happens exactly when the marks are written, never on a conflict."""

    hashes: dict[str, tuple[dict[str, str], int]] = field(default_factory=dict)
    increments: dict[str, tuple[dict[str, int], int]] = field(default_factory=dict)

    def hset(self, key: str, mapping: Mapping[str, str]) -> None:
        fields, expiry = self.hashes.get(key, ({}, 0))
        self.hashes[key] = ({**fields, **mapping}, expiry)

    def expireat(self, key: str, when: int) -> None:
        fields, _ = self.hashes.get(key, ({}, 0))
        self.hashes[key] = (fields, when)

    def hincrby(self, key: str, name: str, amount: int, expire_at: int) -> None:
        fields, _ = self.increments.get(key, ({}, 0))
        fields[name] = fields.get(name, 0) + amount
        self.increments[key] = (fields, expire_at)

    def script_args(self) -> tuple[list[str], list[Any]]:
        keys: list[str] = []
        args: list[Any] = []
        for op, hashes in (("h", self.hashes), ("i", self.increments)):
            for key, (fields, expiry) in hashes.items():
                keys.append(key)
                args += [op, expiry, len(fields)]
                for name, value in fields.items():
                    args += [name, value]
        return keys, args


@dataclass(frozen=True)
class MarkLayout:
    """Where the marks of one kind live (`prefix`: the processor's counted keys, or the gateway's
    acknowledged ones) and how long a slice is (`width_s`: marks must outlive W + skew past their event)."""

    prefix: str
    width_s: int
    bits: int
    # How the registries are named; every bucket name starts with its registry's, so a script's marks
    # share the registry's hash slot on a cluster.
    space: KeySpace = SINGLE_NODE
    # The slices each registry listed when last read (`learn`): the buckets a script may touch.
    _slices: dict[str, tuple[tuple[str, int], ...]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not 8 <= self.bits <= 16:
            raise ValueError("dedupe mark bucket bits must be 8 to 16")

    def registries(self, group: int = 0) -> list[str]:
        return [self.space.named(self.prefix, Mode.TEST, group), self.space.named(self.prefix, Mode.LIVE, group)]

    def learn(self, registry: str, slices: Iterable[str]) -> None:
        """The slice fields `registry` lists now (as bucket-name prefix, shift of the digest head)."""
        self._slices[registry] = tuple((f"{registry}:{name}:", 16 - int(name.rsplit(":", 1)[1])) for name in slices)

    def buckets(self, marks: Iterable[tuple[Mode, bytes]], group: int) -> list[str]:
        """Every bucket each (mode, digest) may be in, in the slices last learnt, each named once."""
        test, live = self.registries(group)
        slices = {Mode.TEST: self._slices.get(test, ()), Mode.LIVE: self._slices.get(live, ())}
        names: dict[str, None] = {}
        for mode, d in marks:
            head = int.from_bytes(d[:2], "big")
            for prefix, shift in slices[mode]:
                names[f"{prefix}{head >> shift}"] = None
        return list(names)

    def slice_of(self, now_s: int) -> tuple[str, int]:
        """The field naming the slice a mark written at `now_s` goes to, and when that slice expires."""
        start = now_s // self.width_s * self.width_s
        return f"{start}:{self.width_s}:{self.bits}", start + 2 * self.width_s

    def bucket_of(self, mode: Mode, key_digest: bytes, now_s: int, group: int = 0) -> str:
        """The hash a mark written at `now_s` goes to (the scripts compute the same name)."""
        name, _ = self.slice_of(now_s)
        bucket = int.from_bytes(key_digest[:2], "big") >> (16 - self.bits)
        return self.space.named(self.prefix, mode, group, name, bucket)

    def lookup_args(self, marks: Iterable[tuple[Mode, bytes]], *, legacy: bool = False, group: int = 0
                    ) -> tuple[str, list[str | bytes], list[Any]]:
        """The script answering, for each (mode, digest), its mark's value in slot group `group`
        (`mark_value` reads it), or None; with `legacy`, the previous layout's processor marks are looked
        up too (single node only, as `any_marked_args`)."""
        marks = list(marks)
        legacy = legacy and not self.space.clustered
        keys: list[str | bytes] = [*self.registries(group), *self.buckets(marks, group)]
        keys += _legacy_keys(marks) if legacy else []
        return _LOOKUP, keys, ["1" if legacy else "0", *(_MODE_BYTE[mode] + d for mode, d in marks)]

    def write_args(self, marks: Sequence[tuple[Mode, bytes, bytes]], now_s: int, expiry_s: int, *,
                   check: bool, writes: HashWrites | None = None, group: int = 0
                   ) -> tuple[str, list[str | bytes], list[Any]]:
        """The script writing `marks` (mode, digest, value) into the current slice of slot group `group`,
        which lives at least until `expiry_s`; with `check`, nothing is written if any of them is marked
        already there. `writes` must name keys of the same group (one slot on a cluster)."""
        name, slice_expiry = self.slice_of(now_s)
        hash_keys, hash_args = writes.script_args() if writes else ([], [])
        args: list[Any] = [now_s, "1" if check else "0", name, max(slice_expiry, expiry_s),
                           1 << (16 - self.bits), len(marks)]
        args += [_MODE_BYTE[mode] + d for mode, d, _ in marks]
        args += [value for _, _, value in marks]
        digests = [(mode, d) for mode, d, _ in marks]
        # `bucket_of`'s names, with the slice's prefix built once (a batch writes hundreds of marks).
        test, live = self.registries(group)
        prefixes = {Mode.TEST: f"{test}:{name}:", Mode.LIVE: f"{live}:{name}:"}
        shift = 16 - self.bits
        written = dict.fromkeys(f"{prefixes[mode]}{int.from_bytes(d[:2], 'big') >> shift}" for mode, d in digests)
        looked = self.buckets(digests, group) if check else []
        keys: list[str | bytes] = [*self.registries(group), *hash_keys, *dict.fromkeys([*looked, *written])]
        return _WRITE, keys, [*args, *hash_args]


# The origin token (domain/event_record.py): `partition:offset:micros`, stored as 1 tag byte and three
# fixed-width integers (16 B instead of ~26); any other text is kept as it is behind tag 0.
_PACKED, _TEXT = 1, 0


def encode_origin(origin: str | None) -> bytes:
    if origin is None:
        return b""
    try:
        partition, offset, micros = (int(part) for part in origin.split(":"))
        packed = (bytes([_PACKED]) + partition.to_bytes(2, "big") + offset.to_bytes(6, "big")
                  + micros.to_bytes(7, "big"))
    except (ValueError, OverflowError):
        return bytes([_TEXT]) + origin.encode()
    if decode_origin(packed) != origin:  # "01" or "+1" would not come back as written
        return bytes([_TEXT]) + origin.encode()
    return packed


def decode_origin(value: bytes) -> str | None:
    """None: a mark that names no record (an empty value)."""
    if not value:
        return None
    if value[0] == _PACKED and len(value) == 16:
        return (f"{int.from_bytes(value[1:3], 'big')}:{int.from_bytes(value[3:9], 'big')}:"
                f"{int.from_bytes(value[9:16], 'big')}")
    return value[1:].decode()

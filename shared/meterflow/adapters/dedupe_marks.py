"""Redis layout of remembered idempotency keys: a few bytes a key (docs/billing.md, "Deduplication";
docs/scaling.md, "The dedupe-memory wall").

A mark is never a top-level Redis key of its own (~50 B of table entry, object header and expiry record
before its name and value): marks are grouped by **slice** (the time the mark was written, `width_s`
wide) and **bucket** (the top `bits` bits of the key digest's first 4 bytes), and a layout keeps each
bucket in one of two kinds of value:

- **packed** (the cold marks, `packed=True`): one string of 10-byte fields (the last 80 bits of the
  digest), nothing else. The script rewrites the whole string when it adds fields (an `APPEND` leaves
  ~40% of the string unused, as strings grow by doubling), and a lookup is a `string.find` at a
  10-byte-aligned position. ~10.3 B a key. Only whether a key is marked: no value.
- **hash** (the hot marks, and the previous layout): a small hash, field = the same 80 bits, value =
  the mark's payload (the processor's compact origin, or nothing). Redis keeps a hash of up to 512
  fields as a listpack (~31 B a key with an origin, ~15 B without); past that a hashtable (~55 B).

A packed bucket should hold a few hundred fields (a write rewrites it, a lookup scans it): `bits` follow
the rate, up to 32 (docs/scaling.md gives the formula). Each slice's registry entry names its own width
and bit count, so changing either never hides a mark written before.

Slices are listed in a small registry hash per mode (`{prefix}:{mode}`, field `start:width:bits` →
expiry; on a Redis Cluster one per mode and slot group, behind the group's hash tag, `redis_keys.py`).
A lookup checks every slice still listed. A bucket expires at once with its slice, at the end of its
slice + `width_s` at the earliest, so a mark lives at least `width_s` and on average 1.5 `width_s`.
The hot tier's slices are dropped earlier by the processor's sweep (`usage_store.py`).

The digest is BLAKE2b-96 of the key: the bucket is its first `bits` bits and the field its last 80
bits, so 88 (8 bits) to 96 bits (16 and more) tell keys apart: with 10^9 keys remembered at once, the
chance that any two collide (one would be dropped as the other's duplicate) is below 2·10^-9 at 8 bits
and ~6·10^-12 from 16 bits on.

Everything that decides is in Lua, so it is atomic: the write checks, in the same step as it writes the
marks and the rollups, that no mark appeared since the read (docs/exactly-once.md).
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from redis.exceptions import ResponseError

from meterflow.adapters.redis_client import RedisClient
from meterflow.adapters.redis_keys import SINGLE_NODE, KeySpace
from meterflow.domain.modes import Mode

DIGEST_BYTES = 12
FIELD_BYTES = 10  # the part of the digest a bucket stores (its last 80 bits)
_MODE_BYTE = {Mode.TEST: b"t", Mode.LIVE: b"l"}
_HSET_CHUNK = 500  # field-value pairs per HSET: Lua's unpack stops near 8,000 values
_T = TypeVar("_T")
# The hot tier's slices (origins, acknowledged keys): an hour wide, so their buckets are ~168 times
# smaller than a W + 2·skew slice's at the same rate (`hot_bits`).
HOT_SLICE_S = 3_600
# Times a call is sent again on a newer view of the slices before its error is raised (a view is stale
# once at start and at each new slice; twice in a row is a race with a slice starting).
_RELEARN_LIMIT = 3
# The error a script answers when the caller's view of the slices is out of date (`is_stale_slices`).
STALE_SLICES = "STALESLICES"

# Shared by the scripts. A digest argument is the mode byte followed by the 12-byte digest; a layout is
# {packed = whether its buckets are packed strings, t = its test slices, l = its live slices}, each slice
# {bucket name prefix, divisor of the digest's 32-bit head}. Every slice listed is looked in, expired or
# not: a bucket is gone once Redis expires it (or the sweep drops it), and the registry is pruned at the
# next write.
#
# Every key a script touches is in its KEYS (Redis Cluster routes a script by them, and a cluster must see
# them): the caller names the buckets from the slices it last read in the registries (`MarkLayout`). The
# registry is read again here; a bucket of a slice the caller did not know of is never touched: the script
# answers STALE_SLICES before writing anything, and the caller reads the registries and sends it again.
_LAYOUTS = """
local declared, stale = {}, false
for i = 1, #KEYS do declared[KEYS[i]] = true end
local function live(registry)
  local slices, entries = {}, redis.call('HGETALL', registry)
  for i = 1, #entries, 2 do
    local bits = tonumber(string.match(entries[i], ':(%d+)$'))
    slices[#slices + 1] = {registry .. ':' .. entries[i] .. ':', 2 ^ (32 - bits)}
  end
  return slices
end
-- KEYS[first + 2c - 2], KEYS[first + 2c - 1]: the test and live registries of the c-th layout of `kinds`
-- ('p' packed, 'h' hash).
local function layouts_of(kinds, first)
  local out = {}
  for c = 1, #kinds do
    local k = first + 2 * (c - 1)
    out[c] = {packed = string.sub(kinds, c, c) == 'p', t = live(KEYS[k]), l = live(KEYS[k + 1])}
  end
  return out
end
local function head(d)
  local a, b, c, e = string.byte(d, 2, 5)
  return ((a * 256 + b) * 256 + c) * 256 + e
end
local function holds(packed, f)
  local at = 1
  while true do
    local i = string.find(packed, f, at, true)
    if not i then return false end
    if i % """ + str(FIELD_BYTES) + """ == 1 then return true end
    at = i + 1
  end
end
-- The mark of digest argument d in a layout: a hash field's value, '' in a packed bucket, false if none.
local function find(layout, d)
  local f, h = string.sub(d, 4), head(d)
  for _, s in ipairs(layout[string.sub(d, 1, 1)]) do
    local bucket = s[1] .. math.floor(h / s[2])
    if not declared[bucket] then stale = true return false end
    if layout.packed then
      local packed = redis.call('GET', bucket)
      if packed and holds(packed, f) then return '' end
    else
      local v = redis.call('HGET', bucket, f)
      if v then return v end
    end
  end
  return false
end
local function stale_reply()
  return redis.error_reply('""" + STALE_SLICES + """ a registry lists a slice the caller did not declare')
end
"""

# For each digest, its mark in the first of the layouts (ARGV[1]: their kinds) that holds it: the value
# in hex (the clients decode replies as UTF-8, and a value is binary), '' for a packed mark, nil if none.
_LOOKUP = _LAYOUTS + """
local function hex(c) return string.format('%02x', string.byte(c)) end
local layouts, out = layouts_of(ARGV[1], 1), {}
for i = 2, #ARGV do
  local v = false
  for _, layout in ipairs(layouts) do
    v = find(layout, ARGV[i])
    if v then break end
  end
  out[i - 1] = v and (string.gsub(v, '.', hex)) or false
end
if stale then return stale_reply() end
return out
"""

# KEYS: the registries of the checked layouts, of the written layouts, the hashes of `writes` (one per
# section below, in order), then the buckets. ARGV: now, checked kinds, '1' for a claim (else '0'),
# written kinds, then per written layout its slice field name, expiry and divisor; n marks, n digests,
# n values (hash layouts store them), then for each hash: op ('h': HSET the pairs, 'i': HINCRBY each
# field by its value, 'x': keep the larger of the stored and the given integer), expiry, n pairs, pairs.
# A count returns 0 (nothing written) when a checked layout already marks a key, else 1. A claim marks
# each key no checked layout marks yet and returns, per key, 0 (marked now) or 1 (marked before); its
# hashes are written only if a key was marked now.
_WRITE = _LAYOUTS + """
local now, checked_kinds, claim, written_kinds = tonumber(ARGV[1]), ARGV[2], ARGV[3] == '1', ARGV[4]
local checked, written = layouts_of(checked_kinds, 1), {}
local a, k = 5, 1 + 2 * #checked_kinds
for c = 1, #written_kinds do
  written[c] = {packed = string.sub(written_kinds, c, c) == 'p', t = KEYS[k], l = KEYS[k + 1], name = ARGV[a],
                expiry = tonumber(ARGV[a + 1]), divisor = tonumber(ARGV[a + 2])}
  a, k = a + 3, k + 2
end
local n = tonumber(ARGV[a])
local first = a + 1
local claims, new = {}, {}
for i = first, first + n - 1 do
  local marked = false
  for _, layout in ipairs(checked) do
    if find(layout, ARGV[i]) then marked = true break end
  end
  if not marked then
    new[#new + 1], claims[#claims + 1] = i, 0
  elseif claim then
    claims[#claims + 1] = 1
  else
    return 0
  end
end
if stale then return stale_reply() end
if claim and #new == 0 then return claims end
local function registry_of(layout, d) return string.sub(d, 1, 1) == 't' and layout.t or layout.l end
local function bucket_of(layout, d)
  return registry_of(layout, d) .. ':' .. layout.name .. ':' .. math.floor(head(d) / layout.divisor)
end
for _, layout in ipairs(written) do
  for _, i in ipairs(new) do
    if not declared[bucket_of(layout, ARGV[i])] then return stale_reply() end
  end
end
-- The slice listed in its registry (its expiry only ever grows), expired slices unlisted: its expiry.
local function register(registry, name, expiry)
  local stored = tonumber(redis.call('HGET', registry, name) or '0')
  if stored < expiry then redis.call('HSET', registry, name, expiry) else expiry = stored end
  local entries = redis.call('HGETALL', registry)
  for j = 1, #entries, 2 do
    if tonumber(entries[j + 1]) <= now then redis.call('HDEL', registry, entries[j]) end
  end
  redis.call('EXPIREAT', registry, expiry, 'GT')
  redis.call('EXPIREAT', registry, expiry, 'NX')
  return expiry
end
for _, layout in ipairs(written) do
  local expiries, added, order = {}, {}, {}
  for _, i in ipairs(new) do
    local d = ARGV[i]
    local registry = registry_of(layout, d)
    if expiries[registry] == nil then expiries[registry] = register(registry, layout.name, layout.expiry) end
    local bucket, f = bucket_of(layout, d), string.sub(d, 4)
    if layout.packed then
      if added[bucket] == nil then
        added[bucket] = {}
        order[#order + 1] = {bucket, expiries[registry]}
      end
      added[bucket][f] = true
    else
      redis.call('HSET', bucket, f, ARGV[i + n])
      if added[bucket] == nil then
        redis.call('EXPIREAT', bucket, expiries[registry])
        added[bucket] = true
      end
    end
  end
  -- A packed bucket is written whole, once per call: its old fields and the new ones not in it yet.
  for _, entry in ipairs(order) do
    local bucket = entry[1]
    local packed, new = redis.call('GET', bucket) or '', {}
    for f in pairs(added[bucket]) do
      if not holds(packed, f) then new[#new + 1] = f end
    end
    if #new > 0 then redis.call('SET', bucket, packed .. table.concat(new), 'EXAT', entry[2]) end
  end
end
a = first + 2 * n
while a <= #ARGV do
  local op, at, pairs_n = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])
  local from = a + 3
  if op == 'i' then
    for i = from, a + 2 + 2 * pairs_n, 2 do redis.call('HINCRBY', KEYS[k], ARGV[i], ARGV[i + 1]) end
  elseif op == 'x' then
    for i = from, a + 2 + 2 * pairs_n, 2 do
      if tonumber(ARGV[i + 1]) > tonumber(redis.call('HGET', KEYS[k], ARGV[i]) or '-1') then
        redis.call('HSET', KEYS[k], ARGV[i], ARGV[i + 1])
      end
    end
  else
    while from < a + 3 + 2 * pairs_n do
      local last = math.min(from + 2 * """ + str(_HSET_CHUNK) + """ - 1, a + 2 + 2 * pairs_n)
      redis.call('HSET', KEYS[k], unpack(ARGV, from, last))
      from = last + 1
    end
  end
  redis.call('EXPIREAT', KEYS[k], at)
  a, k = a + 3 + 2 * pairs_n, k + 1
end
if claim then return claims end
return 1
"""


def digest(idempotency_key: str) -> bytes:
    return hashlib.blake2b(idempotency_key.encode(), digest_size=DIGEST_BYTES).digest()


def hot_bits(cold_bits: int) -> int:
    """The bucket bits of an hourly slice that holds what a W + 2·skew slice of `cold_bits` holds, at the
    same fill: 2^7 = 128 times fewer buckets (W + 2·skew is 168 hours by default), at most 2^16."""
    return min(16, max(0, cold_bits - 7))


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


async def marked_keys(redis: RedisClient, layouts: Sequence[MarkLayout], mode: Mode,
                      digests: Mapping[str, bytes]) -> set[str]:
    """The keys that any of `layouts` marks (`digests`: each key with its `digest`), each looked up in its
    own digest's slot group (where the processor claims a key and the gateway remembers it,
    `KeySpace.group_of_digest`): one script per group holding keys, in one round trip (one script on a
    single node)."""
    space = layouts[0].space
    by_group: dict[int, list[tuple[str, bytes]]] = defaultdict(list)
    for key, key_digest in digests.items():
        by_group[space.group_of_digest(key_digest)].append((key, key_digest))

    async def look_up() -> set[str]:
        pipe = redis.pipeline(transaction=False)
        for group, keyed in by_group.items():
            script, names, args = lookup_args(layouts, ((mode, d) for _, d in keyed), group)
            pipe.eval(script, len(names), *names, *args)
        return {key for keyed, found in zip(by_group.values(), await pipe.execute(), strict=True)
                for (key, _), mark in zip(keyed, found, strict=True) if mark is not None}
    return await with_known_slices(redis, layouts, by_group, look_up) if by_group else set()


def mark_value(reply: str) -> bytes:
    """A lookup's reply for a found mark: its value (empty for a packed mark, or a mark without one)."""
    return bytes.fromhex(reply)


@dataclass
class HashWrites:
    """Hash writes (fields set, counters incremented, or kept at their largest value, and an expiry) to
    run inside the marks' script, in its atomic step: they happen exactly when the marks are written,
    never on a conflict."""

    hashes: dict[str, tuple[dict[str, str], int]] = field(default_factory=dict)
    increments: dict[str, tuple[dict[str, int], int]] = field(default_factory=dict)
    maxima: dict[str, tuple[dict[str, int], int]] = field(default_factory=dict)

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

    def hmax(self, key: str, name: str, value: int, expire_at: int) -> None:
        """Field `name` becomes `value` unless it already holds a larger integer."""
        fields, _ = self.maxima.get(key, ({}, 0))
        fields[name] = max(value, fields.get(name, value))
        self.maxima[key] = (fields, expire_at)

    def script_args(self) -> tuple[list[str], list[Any]]:
        keys: list[str] = []
        args: list[Any] = []
        sections: tuple[tuple[str, Mapping[str, tuple[Mapping[str, object], int]]], ...] = (
            ("h", self.hashes), ("i", self.increments), ("x", self.maxima))
        for op, hashes in sections:
            for key, (fields, expiry) in hashes.items():
                keys.append(key)
                args += [op, expiry, len(fields)]
                for name, value in fields.items():
                    args += [name, value]
        return keys, args


@dataclass(frozen=True)
class MarkLayout:
    """Where the marks of one kind live (`prefix`), how long a slice is (`width_s`: a mark outlives its
    write by at least that), how many buckets a slice has (2^`bits`) and what a bucket is (`packed`
    strings of fields, or hashes of field → value)."""

    prefix: str
    width_s: int
    bits: int
    # How the registries are named; every bucket name starts with its registry's, so a script's marks
    # share the registry's hash slot on a cluster.
    space: KeySpace = SINGLE_NODE
    packed: bool = False
    # The slices each registry listed when last read (`learn`): the buckets a script may touch.
    _slices: dict[str, tuple[tuple[str, int], ...]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.packed and not 8 <= self.bits <= 32:
            raise ValueError("packed mark buckets take 8 to 32 bits")
        if not self.packed and not 0 <= self.bits <= 16:
            raise ValueError("hashes of marks take 0 to 16 bits (past 512 fields a hash is no listpack)")

    @property
    def kind(self) -> str:
        return "p" if self.packed else "h"

    def registries(self, group: int = 0) -> list[str]:
        return [self.space.named(self.prefix, Mode.TEST, group), self.space.named(self.prefix, Mode.LIVE, group)]

    def registry(self, mode: Mode, group: int = 0) -> str:
        return self.space.named(self.prefix, mode, group)

    def learn(self, registry: str, slices: Iterable[str]) -> None:
        """The slice fields `registry` lists now (as bucket-name prefix, shift of the digest's 32-bit head)."""
        self._slices[registry] = tuple((f"{registry}:{name}:", 32 - int(name.rsplit(":", 1)[1])) for name in slices)

    def buckets(self, heads: Iterable[tuple[Mode, int]], group: int) -> list[str]:
        """Every bucket each (mode, digest head: `heads`) may be in, in the slices last learnt, each named
        once."""
        test, live = self.registries(group)
        slices = {Mode.TEST: self._slices.get(test, ()), Mode.LIVE: self._slices.get(live, ())}
        names: dict[str, None] = {}
        for mode, head in heads:
            for prefix, shift in slices[mode]:
                names[f"{prefix}{head >> shift}"] = None
        return list(names)

    def slice_of(self, now_s: int) -> tuple[str, int]:
        """The field naming the slice a mark written at `now_s` goes to, and when that slice expires."""
        start = now_s // self.width_s * self.width_s
        return f"{start}:{self.width_s}:{self.bits}", start + 2 * self.width_s

    def bucket_of(self, mode: Mode, key_digest: bytes, now_s: int, group: int = 0) -> str:
        """The bucket a mark written at `now_s` goes to (the scripts compute the same name)."""
        name, _ = self.slice_of(now_s)
        return f"{self.registry(mode, group)}:{name}:{int.from_bytes(key_digest[:4], 'big') >> (32 - self.bits)}"

    def slice_buckets(self, registry: str, name: str) -> list[str]:
        """Every bucket a slice of `registry` may have (`name`: its registry field)."""
        return [f"{registry}:{name}:{bucket}" for bucket in range(1 << int(name.rsplit(":", 1)[1]))]

    @staticmethod
    def beside(registry: str, name: str) -> str:
        """A key kept beside a slice's buckets, in its slot (no bucket is named by a letter)."""
        return f"{registry}:{name}:o"

    def written_buckets(self, heads: Iterable[tuple[Mode, int]], name: str, group: int) -> list[str]:
        """`bucket_of`'s names, with the slice's prefix built once (a batch writes hundreds of marks)."""
        test, live = self.registries(group)
        prefixes = {Mode.TEST: f"{test}:{name}:", Mode.LIVE: f"{live}:{name}:"}
        shift = 32 - self.bits
        return list(dict.fromkeys(f"{prefixes[mode]}{head >> shift}" for mode, head in heads))


def _heads(marks: Iterable[tuple[Mode, bytes]]) -> list[tuple[Mode, int]]:
    """Each digest's first 4 bytes as an integer, whose top bits name its bucket in every layout."""
    return [(mode, int.from_bytes(d[:4], "big")) for mode, d in marks]


def lookup_args(layouts: Sequence[MarkLayout], marks: Iterable[tuple[Mode, bytes]], group: int = 0
                ) -> tuple[str, list[str | bytes], list[Any]]:
    """The script answering, for each (mode, digest), its mark in the first of `layouts` that has one,
    in slot group `group` (`mark_value` reads it), or None."""
    marks = list(marks)
    keys: list[str | bytes] = [registry for layout in layouts for registry in layout.registries(group)]
    heads = _heads(marks)
    keys += list(dict.fromkeys(bucket for layout in layouts for bucket in layout.buckets(heads, group)))
    return _LOOKUP, keys, ["".join(layout.kind for layout in layouts), *(_MODE_BYTE[mode] + d for mode, d in marks)]


def write_args(written: Sequence[MarkLayout], marks: Sequence[tuple[Mode, bytes, bytes]], now_s: int, expiry_s: int,
               *, checked: Sequence[MarkLayout] = (), writes: HashWrites | None = None, group: int = 0,
               claim: bool = False) -> tuple[str, list[str | bytes], list[Any]]:
    """The script writing `marks` (mode, digest, value) into the current slice of each `written` layout
    in slot group `group`, each slice living at least until `expiry_s`; nothing is written if any
    `checked` layout marks one of them already. `writes` must name keys of the same group (one slot on
    a cluster).

    A `claim` instead writes each mark no `checked` layout holds yet, leaves the others as they are, and
    answers per mark whether it was marked before (`writes` are done only if a mark was written)."""
    digests = [(mode, d) for mode, d, _ in marks]
    keys: list[str | bytes] = [registry for layout in checked for registry in layout.registries(group)]
    args: list[Any] = [now_s, "".join(layout.kind for layout in checked), "1" if claim else "0",
                       "".join(layout.kind for layout in written)]
    heads = _heads(digests)
    buckets: dict[str, None] = dict.fromkeys(bucket for layout in checked for bucket in layout.buckets(heads, group))
    for layout in written:
        name, slice_expiry = layout.slice_of(now_s)
        keys += layout.registries(group)
        args += [name, max(slice_expiry, expiry_s), 1 << (32 - layout.bits)]
        buckets.update(dict.fromkeys(layout.written_buckets(heads, name, group)))
    hash_keys, hash_args = writes.script_args() if writes else ([], [])
    args += [len(marks), *(_MODE_BYTE[mode] + d for mode, d in digests), *(value for _, _, value in marks)]
    return _WRITE, [*keys, *hash_keys, *buckets], [*args, *hash_args]


# The origin token (domain/event_record.py): `partition:offset:micros`, stored as 1 tag byte and three
# fixed-width integers (16 B instead of ~26); any other text is kept as it is behind tag 0.
_PACKED, _TEXT = 1, 0


# Only a token that comes back as written is packed ("01", "+1" or an Arabic-Indic digit would not): canonical decimals,
# no longer than their field can hold.
_CANONICAL_ORIGIN = re.compile(r"(0|[1-9][0-9]{0,4}):(0|[1-9][0-9]{0,14}):(0|[1-9][0-9]{0,16})")


def encode_origin(origin: str | None) -> bytes:
    """Every counted event's origin is packed on the hot path: one match and one `to_bytes` (taking it
    apart, packing the parts and decoding them again to compare took ~2 µs an event)."""
    if origin is None:
        return b""
    match = _CANONICAL_ORIGIN.fullmatch(origin)
    if match is not None:
        partition, offset, micros = int(match[1]), int(match[2]), int(match[3])
        if partition < 1 << 16 and offset < 1 << 48 and micros < 1 << 56:
            return (_PACKED << 120 | partition << 104 | offset << 56 | micros).to_bytes(16, "big")
    return bytes([_TEXT]) + origin.encode()


def decode_origin(value: bytes) -> str | None:
    """None: a mark that names no record (an empty value)."""
    if not value:
        return None
    if value[0] == _PACKED and len(value) == 16:
        return (f"{int.from_bytes(value[1:3], 'big')}:{int.from_bytes(value[3:9], 'big')}:"
                f"{int.from_bytes(value[9:16], 'big')}")
    return value[1:].decode()

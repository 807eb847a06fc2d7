"""The one home of Redis key naming: which hash slot group a key belongs to, and its name.

On Redis Cluster, the keys one script or MULTI/EXEC touches must share a hash slot. A key's dedupe
marks (the processor's claim, the gateway's acknowledged keys, dead-lettered keys) carry the hash tag of
the **slot group of the key's digest**, so that one atomic script decides a key whatever its customer.
The counting transaction touches the customer's rollups and distinct masks, the accounting figures it
decides and the "applied" marks of the records it counts, so all of them carry the tag of the slot
group of the event's customer. A batch is claimed in one script per group of its keys, then counted in
one transaction per group of its customers (`usage_store.py`: why that is exactly-once).

Groups are few (`MF_REDIS_SLOT_GROUPS`, 16 by default) so that a batch needs few transactions, and their
tags are chosen so their slots are spread evenly over 0..16383: any even split of the slots between
masters gives each a fair share of the groups (no hot slot range). One customer's events all land in
one group, as they all land in one Kafka partition.

On a single Redis node there is one group and no tag: the names are exactly those written before
cluster support, so data already stored stays where it is read.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from meterflow.domain.counting import RollupKey
from meterflow.domain.modes import Mode

# Every prefix meterflow writes under, here so that no two kinds of key can meet.
COLD_MARKS_PREFIX = "mf:c"  # the processor's dedupe marks: packed digests, W + 2·skew slices (dedupe_marks.py)
HOT_MARKS_PREFIX = "mf:h"  # the same marks with their origins, hourly slices, until the sweep drops them
APPLIED_MARKS_PREFIX = "mf:p"  # on a cluster: the keys whose effects were applied, with their origins (hot)
MARKS_PREFIX = "mf:m"  # the previous layout of the processor's marks (hashes with origins), read until expired
ACKNOWLEDGED_PREFIX = "mf:a"  # the gateway's acknowledged keys: hashes, hourly slices
DEAD_LETTERED_PREFIX = "mf:x"  # keys the processor dead-lettered: packed digests, W + 2·skew slices
ROLLUPS_PREFIX = "mf:r"
DISTINCT_PREFIX = "mf:d"
ACCOUNTING_PREFIX = "mf:acct"
RATES_PREFIX = "mf:rl"


def _spread_tag(group: int, groups: int) -> str:
    """A hash tag whose slot falls in the `group`-th of `groups` equal slot ranges."""
    for attempt in range(1_000_000):
        label = f"g{group}.{attempt}"
        if key_slot(label.encode()) * groups // REDIS_CLUSTER_HASH_SLOTS == group:
            return "{" + label + "}"
    raise ValueError(f"no hash tag found for slot group {group} of {groups}")


@dataclass(frozen=True)
class KeySpace:
    """How keys are named: `groups` = 1 on a single node (untagged names), more on a cluster."""

    groups: int = 1
    _tags: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.groups < 1:
            raise ValueError("a key space has at least one slot group")
        tags = tuple(_spread_tag(group, self.groups) for group in range(self.groups)) if self.clustered else ()
        object.__setattr__(self, "_tags", tags)

    @property
    def clustered(self) -> bool:
        return self.groups > 1

    def all_groups(self) -> range:
        return range(self.groups)

    def group_of_customer(self, customer_id: str) -> int:
        """Where a customer's rollups, counted figures and applied marks live (0 on a single node)."""
        return self._group_of(customer_id.encode())

    def group_of_digest(self, key_digest: bytes) -> int:
        """Where a key is claimed and remembered (its marks need no customer to be found again)."""
        return int.from_bytes(key_digest[-4:], "big") % self.groups

    def _group_of(self, text: bytes) -> int:
        if not self.clustered:
            return 0
        return int.from_bytes(hashlib.blake2b(text, digest_size=4).digest(), "big") % self.groups

    def scope(self, mode: Mode, group: int) -> str:
        """The part of a name after its prefix: the mode, behind the group's hash tag on a cluster."""
        return f"{self._tags[group]}:{mode.value}" if self.clustered else mode.value

    def named(self, prefix: str, mode: Mode, group: int, *rest: object) -> str:
        return ":".join([prefix, self.scope(mode, group), *map(str, rest)])

    def rollups(self, key: RollupKey) -> str:
        """A day of one metric's hourly rollups for one customer, in the customer's group."""
        return self.named(ROLLUPS_PREFIX, key.mode, self.group_of_customer(key.customer_id), key.metric_id,
                          key.customer_id, key.day)

    def distinct(self, key: RollupKey) -> str:
        """That day's distinct values (value → bitmask of its hours), beside its rollups."""
        return self.named(DISTINCT_PREFIX, key.mode, self.group_of_customer(key.customer_id), key.metric_id,
                          key.customer_id, key.day)

    @staticmethod
    def request_rate(key_id: str, second: int) -> str:
        """One API key's request count in one second: one key per command, so untagged on a cluster too."""
        return f"{RATES_PREFIX}:{key_id}:{second}"

    @staticmethod
    def console_session(session_key: str) -> str:
        """One console session: one key per command, so untagged on a cluster too."""
        return f"mf:console:session:{session_key}"

    def rollups_pattern(self, mode: Mode, metric_id: str) -> str:
        """A SCAN pattern matching every customer's rollups of a metric, in every group."""
        scope = "{*}:" + mode.value if self.clustered else mode.value
        return f"{ROLLUPS_PREFIX}:{scope}:{metric_id}:*"


SINGLE_NODE = KeySpace()

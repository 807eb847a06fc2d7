"""Key names: unchanged on a single node (data stored before cluster support is found where it was
written), and on a cluster every key of one customer in one slot, the groups spread over the slot range."""

from __future__ import annotations

from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from meterflow.adapters.dedupe_marks import MarkLayout
from meterflow.adapters.redis_client import CLUSTER_SLOT_GROUPS, is_cluster_url
from meterflow.adapters.redis_keys import SINGLE_NODE, KeySpace
from meterflow.domain.counting import RollupKey
from meterflow.domain.modes import Mode

CLUSTER = KeySpace(CLUSTER_SLOT_GROUPS)


def test_single_node_names_are_the_names_written_before_cluster_support() -> None:
    key = RollupKey(Mode.LIVE, "met_1", "cus_1", 20_000)
    assert (SINGLE_NODE.rollups(key), SINGLE_NODE.distinct(key)) == ("mf:r:live:met_1:cus_1:20000",
                                                                     "mf:d:live:met_1:cus_1:20000")
    assert MarkLayout("mf:m", 605_400, 12).registries() == ["mf:m:test", "mf:m:live"]
    assert SINGLE_NODE.rollups_pattern(Mode.TEST, "met_1") == "mf:r:test:met_1:*"


def test_a_customers_marks_rollups_and_figures_share_one_slot_on_a_cluster() -> None:
    for customer in (f"cus_{i}" for i in range(200)):
        group = CLUSTER.group_of_customer(customer)
        key = RollupKey(Mode.TEST, "met_1", customer, 20_000)
        layout = MarkLayout("mf:m", 605_400, 12, CLUSTER)
        names = [CLUSTER.rollups(key), CLUSTER.distinct(key), CLUSTER.named("mf:acct", Mode.TEST, group, 3600),
                 *layout.registries(group), layout.bucket_of(Mode.LIVE, bytes(12), 1_764_000_000, group)]
        assert len({key_slot(name.encode()) for name in names}) == 1, names


def test_the_groups_are_spread_over_the_slot_range_so_no_master_gets_them_all() -> None:
    slots = [key_slot(CLUSTER.scope(Mode.TEST, group).encode()) for group in CLUSTER.all_groups()]
    assert [slot * CLUSTER_SLOT_GROUPS // REDIS_CLUSTER_HASH_SLOTS for slot in slots] == list(CLUSTER.all_groups())
    customers = [CLUSTER.group_of_customer(f"cus_{i}") for i in range(1_600)]
    assert min(customers.count(group) for group in CLUSTER.all_groups()) > 50  # ~100 each


def test_the_cluster_scheme_is_recognised() -> None:
    assert is_cluster_url("redis+cluster://10.0.0.1:6379")
    assert not is_cluster_url("redis://10.0.0.1:6379/0")

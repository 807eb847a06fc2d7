"""The one way every process connects to Redis: reconnect and retry through a Redis restart.

Retrying a transaction is safe here by design: if its reply was lost after Redis applied it, the
retry finds the dedupe marks already set and counts nothing twice (usage_store.py).

`MF_REDIS_URL` names one server (`redis://host:port/db`) or any node of a Redis Cluster
(`redis+cluster://host:port`): the cluster client discovers the other masters and routes each command
to the master of its key's slot. Every adapter gets the client built here and names its keys through
`key_space(client)` (redis_keys.py), so the same code runs on both.
"""

from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError

from meterflow.adapters.redis_keys import SINGLE_NODE, KeySpace
from meterflow.adapters.redis_packing import HiredisPackingConnection

CLUSTER_SCHEME = "redis+cluster"
# Fixed, not a setting: a customer's keys are found through its group, so changing the count would
# hide every key written before (a migration, not a restart). 16 groups spread over up to ~8 masters.
CLUSTER_SLOT_GROUPS = 16

RedisClient = Redis | RedisCluster


def is_cluster_url(url: str) -> bool:
    return urlsplit(url).scheme == CLUSTER_SCHEME


def connect_redis(url: str) -> RedisClient:
    retry = Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=20)
    if is_cluster_url(url):
        parts = urlsplit(url)
        # A cluster has one database; the path, if any, is dropped. A master that restarts (its slots
        # answer CLUSTERDOWN meanwhile) is retried like a single node's restart.
        node_url = urlunsplit(("redis", parts.netloc, "", parts.query, ""))
        return RedisCluster.from_url(node_url, decode_responses=True, health_check_interval=5, retry=retry)
    # Commands packed by hiredis (redis_packing.py). A `rediss://` or `unix://` URL picks its own connection
    # class, and the cluster client its nodes': those pack in Python, as redis-py does.
    return Redis.from_url(url, decode_responses=True, health_check_interval=5, retry=retry,
                          connection_class=HiredisPackingConnection,
                          retry_on_error=[ConnectionError, TimeoutError])


def key_space(redis: RedisClient) -> KeySpace:
    """How keys are named for this client: hash-tagged slot groups on a cluster, the plain names on one node."""
    return KeySpace(CLUSTER_SLOT_GROUPS) if isinstance(redis, RedisCluster) else SINGLE_NODE


async def ready(redis: RedisClient) -> None:
    """On a cluster, the client made ready (slots and nodes known) in the running event loop, before
    commands are sent concurrently: commands that each find it not ready initialise it each, closing the
    connections the others are writing on, and redis-py sends a command whose connection failed again,
    though it may have run (a script that is not idempotent would answer otherwise the second time)."""
    if isinstance(redis, RedisCluster):
        await redis.initialize()


async def transaction(redis: RedisClient) -> Pipeline | ClusterPipeline:
    """A MULTI/EXEC pipeline. On a cluster the client is first made ready in the running event loop:
    redis-py (8.1, 8.2) queues each command of a cluster transaction from a helper thread with its own loop, and
    a client not yet initialised would open its node connections there, unusable afterwards."""
    await ready(redis)
    return redis.pipeline(transaction=True)


def begin_multi(tx: Pipeline | ClusterPipeline) -> None:
    """MULTI on either pipeline: the commands queued next run atomically at `execute` (redis-py leaves
    `multi` unannotated; each branch names its own class, so mypy checks the call once, here)."""
    if isinstance(tx, ClusterPipeline):
        tx.multi()
    else:
        tx.multi()

"""The one way every process connects to Redis: reconnect and retry through a Redis restart.

Retrying a transaction is safe here by design: if its reply was lost after Redis applied it, the
retry finds the dedupe marks already set and counts nothing twice (usage_store.py).
"""

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError

from meterflow.adapters.redis_packing import HiredisPackingConnection


def connect_redis(url: str) -> Redis:
    # A `rediss://` or `unix://` URL picks its own connection class (packed in Python, as before).
    return Redis.from_url(url, decode_responses=True, health_check_interval=5,
                          connection_class=HiredisPackingConnection,
                          retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=20),
                          retry_on_error=[ConnectionError, TimeoutError])

"""Which library errors mean "a dependency is unreachable right now", as opposed to "this data is bad".

The closer isolates a subscription whose period fails, but an unreachable Postgres or Redis fails every
subscription alike: that is retried on the next run as a whole, never recorded as thousands of
subscription failures. The I/O libraries are known only here, in the adapters.
"""

from __future__ import annotations

import asyncpg
import redis.exceptions

from meterflow.domain.errors import Unavailable

_TRANSIENT: tuple[type[BaseException], ...] = (
    Unavailable,
    OSError,  # refused, reset, unreachable (ConnectionError is one)
    TimeoutError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,  # the connection was closed under us
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError,  # disk full, too many connections
)


def is_transient(error: BaseException) -> bool:
    return isinstance(error, _TRANSIENT)

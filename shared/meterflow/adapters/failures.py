"""Which library exceptions mean "a dependency is away": those become `Unavailable` (retried), any other
stays as it is (the records are suspected, see application/failure_policy.py; the closer isolates the
subscription, see application/period_close.py). The one place the I/O libraries' errors are classified.

Listed by what the server or client says, never by guess: operating-system I/O errors (sockets, DNS,
timeouts) and the connection and timeout errors of every client; Redis loading, read-only (failover),
out of memory and cluster-down replies; Postgres SQLSTATE classes 08
(connection), 40 (transaction rollback: serialization, deadlock), 53 (insufficient resources), 57
(operator intervention: shutdown, cancel), 58 (system I/O); Kafka errors the client marks retriable.
A data error (22xxx: a NUL in a string) or a client-side encoding error is the record's fault, not the
dependency's, and must not be retried forever.
"""

from __future__ import annotations

import asyncpg.exceptions as pg
import redis.exceptions as redis_errors
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

from meterflow.domain.errors import MeterflowError, Unavailable

TRANSIENT: tuple[type[Exception], ...] = (
    OSError,  # every socket error: refused, reset, unreachable, DNS (asyncpg raises them raw), timeouts
    redis_errors.ConnectionError, redis_errors.TimeoutError, redis_errors.ReadOnlyError,
    redis_errors.OutOfMemoryError, redis_errors.MasterDownError, redis_errors.TryAgainError,
    redis_errors.ClusterDownError,
    pg.PostgresConnectionError, pg.InterfaceError,  # InterfaceError: the connection was closed under us
    # A session the server terminated mid-operation (Postgres killed) can leave a pooled connection whose
    # next use reports "cannot switch to state …" (MagicStack/asyncpg#1069); the pool replaces it.
    pg.InternalClientError,
    pg.TransactionRollbackError, pg.InsufficientResourcesError,
    pg.OperatorInterventionError, pg.PostgresSystemError,
    KafkaConnectionError, KafkaTimeoutError,
)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, MeterflowError):
        return isinstance(exc, Unavailable)
    if isinstance(exc, TRANSIENT):
        return True
    return isinstance(exc, KafkaError) and bool(exc.retriable)


def categorised(exc: Exception) -> Exception:
    """`exc` as one of the closed set of categories when it says a dependency is away, else unchanged."""
    if is_transient(exc) and not isinstance(exc, Unavailable):
        error = Unavailable(f"{type(exc).__name__}: {exc}")
        error.__cause__ = exc
        return error
    return exc

"""`Idempotency-Key` (docs/api.md, "Idempotency-Key"): what a request carrying a key already seen must get, decided from
the stored record alone.

The first request with a key in a mode is executed and its answer stored for 24 h with a fingerprint of
the request (method, path, query, body). A retry with the same fingerprint gets the stored answer and
changes nothing; another request under the same key is refused (400); a retry while the first is still
running is refused (409). Which request is "the first" is decided by the database (the key's row is
inserted before anything executes), so two concurrent retries can never both execute.

A record still running after `STALE_AFTER` belongs to a process that died mid-request (its transaction
rolled back, so nothing was done): the next retry takes it over rather than waiting out the 24 h.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

KEPT_FOR = timedelta(hours=24)
STALE_AFTER = timedelta(seconds=60)
MAX_KEY_CHARS = 255


@dataclass(frozen=True)
class StoredRequest:
    fingerprint: str
    created_at: datetime
    status: int | None  # None: still running
    body: bytes | None


class Decision(StrEnum):
    EXECUTE = "execute"
    REPLAY = "replay"
    MISMATCH = "mismatch"
    IN_FLIGHT = "in_flight"


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query.encode(), body):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def decide(stored: StoredRequest, request_fingerprint: str, now: datetime) -> Decision:
    """What a request whose key is already on record gets (EXECUTE: the record may be taken over)."""
    if stored.created_at <= now - KEPT_FOR:
        return Decision.EXECUTE
    if stored.fingerprint != request_fingerprint:
        return Decision.MISMATCH
    if stored.status is None:
        return Decision.EXECUTE if stored.created_at <= now - STALE_AFTER else Decision.IN_FLIGHT
    return Decision.REPLAY


def is_stored(status: int) -> bool:
    """A 5xx means the request was not carried out (a dependency away, a bug): the retry executes again."""
    return status < 500

"""When a call is tried again and after how long: one pure policy, the same for sync, async and buffered
ingest.

Retried: no answer (connection refused or dropped, timeout), 408, 409 "still in flight" (the same
Idempotency-Key is being executed by an earlier attempt), 429 and every 5xx. Never a 4xx that says the
request itself is wrong: sending it again would get the same answer. Retrying a create is safe because
the client sends one Idempotency-Key per logical call and reuses it on every attempt, and ingest's events
carry their own keys.

The wait doubles from `initial_delay_s` up to `max_delay_s`, with jitter (a random half of it added) so
that many clients refused together do not come back together. A `Retry-After` of at most
`max_retry_after_s` from the API is honoured as given (the server knows when it will have room).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

IDEMPOTENCY_HEADER = "Idempotency-Key"


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 2
    initial_delay_s: float = 0.5
    max_delay_s: float = 8.0
    max_retry_after_s: float = 60.0

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.initial_delay_s < 0 or self.max_delay_s < self.initial_delay_s:
            raise ValueError("max_retries ≥ 0 and 0 ≤ initial_delay_s ≤ max_delay_s")

    def allows(self, retries_done: int) -> bool:
        return retries_done < self.max_retries

    def delay_s(self, retries_done: int, retry_after: str | None = None,
                jitter: Callable[[], float] = random.random, now: datetime | None = None) -> float:
        """The wait before retry number `retries_done + 1`."""
        asked = retry_after_s(retry_after, now or datetime.now(UTC))
        if asked is not None and asked <= self.max_retry_after_s:
            return asked
        backoff = min(self.max_delay_s, self.initial_delay_s * 2.0 ** min(retries_done, 32))
        return backoff / 2 + backoff / 2 * jitter()


def retry_after_s(header: str | None, now: datetime) -> float | None:
    """`Retry-After` as seconds (a number of seconds or an HTTP date); None when absent or unreadable."""
    if header is None:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - now).total_seconds()) if when.tzinfo else None


def retryable_status(status: int, body: Mapping[str, Any]) -> bool:
    """Whether an answer with this status (and error body) may succeed if sent again."""
    if status == 409:
        return body.get("param") == IDEMPOTENCY_HEADER  # in flight; any other conflict is final
    return status in (408, 429) or status >= 500

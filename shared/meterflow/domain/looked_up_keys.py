"""What ingest's duplicate pre-check found for a batch's keys (application/ports/usage.py,
`DuplicatePrecheck`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LookedUpKeys:
    """The keys found (counted, or acknowledged to an earlier request), and each key as the store looked
    it up (its digest): handed back to `DuplicatePrecheck.remember` once the batch is durable, so a request
    digests each key once, not once to look it up and again to remember it."""

    found: set[str]
    as_stored: Mapping[str, bytes] = field(default_factory=dict)

"""API keys: `mk_test_…` / `mk_live_…`, the prefix naming the mode; only a hash is ever stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from meterflow.domain.modes import Mode

_PREFIX = "mk_"


def new_api_key(mode: Mode) -> str:
    return f"{_PREFIX}{mode}_{secrets.token_urlsafe(24)}"


def hash_api_key(key: str) -> str:
    """SHA-256 is enough: keys are 192 random bits, so there is nothing to brute-force."""
    return hashlib.sha256(key.encode()).hexdigest()


def claimed_mode(key: str) -> Mode | None:
    for mode in Mode:
        if key.startswith(f"{_PREFIX}{mode}_"):
            return mode
    return None


class KeyScope(StrEnum):
    """`full`: the whole API of the key's mode; `ingest`: only `POST /v1/ingest` (a key to hand to the
    services that send events, which can then read or change nothing)."""

    FULL = "full"
    INGEST = "ingest"


INGEST_PATH = "/v1/ingest"


def allows(scope: KeyScope, method: str, path: str) -> bool:
    return scope is KeyScope.FULL or (method == "POST" and path == INGEST_PATH)


@dataclass(frozen=True)
class ApiKey:
    """A key as ops see it (`meterflow keys list`): never the key itself, which only its holder has."""

    id: str
    mode: Mode
    scope: KeyScope
    created_at: datetime
    revoked_at: datetime | None

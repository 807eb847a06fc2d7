"""API keys: `mk_test_…` / `mk_live_…`, the prefix naming the mode; only a hash is ever stored."""

from __future__ import annotations

import hashlib
import secrets

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

"""Portal tokens (docs/portal.md): a link a customer opens to see their own usage, invoices and wallets,
with no account and no API key. Pure: what a token is, how it is checked, when it opens the portal.

Invariants:
- a token is 64 hex characters (256 random bits); only its SHA-256 is stored, so the database cannot
  give back a working link (the holder is shown the token once, when it is created);
- a token opens the portal of one customer in one mode, and nothing else;
- a revoked token, or one past its `expires_at`, opens nothing, from the instant it was revoked or expired
  (no cache stands between a revocation and the next request).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from meterflow.domain.errors import FieldError
from meterflow.domain.modes import Mode

TOKEN_BYTES = 32
_TOKEN = re.compile(r"[0-9a-f]{64}")


def new_token() -> str:
    return secrets.token_hex(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """SHA-256 is enough: a token is 256 random bits, so there is nothing to brute-force."""
    return hashlib.sha256(token.encode()).hexdigest()


def well_formed(token: str) -> bool:
    """Whether `token` could be one we issued (anything else is refused without a database read)."""
    return _TOKEN.fullmatch(token) is not None


@dataclass(frozen=True)
class PortalToken:
    """A token as stored: never the token itself, which only the link holds."""

    id: str
    mode: Mode
    customer_id: str
    token_hash: str
    label: str
    expires_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime
    updated_at: datetime

    def opens(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


@dataclass(frozen=True)
class IssuedToken:
    """A token just created: the stored record and, this once, the token to put in the link."""

    record: PortalToken
    token: str


def checked_expiry(expires_at: datetime | None, now: datetime) -> datetime | None:
    """A token born expired is a mistake of the caller, not a link to hand out."""
    if expires_at is not None and expires_at <= now:
        raise FieldError("expires_at", "must be in the future")
    return expires_at


def portal_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/portal/{token}"

"""Who may open the ops console, and what a console session is.

A session is a random id the browser holds in an HttpOnly cookie; the server keeps, under a hash of that id,
the API key's hash, the mode and the session's CSRF token, and forgets it at expiry or sign-out. Nothing the
browser holds can be forged or extended: an id is 256 random bits, and the server decides what it means.
The key's hash is kept so that each page checks the key again: revoking a key ends its sessions.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from meterflow.domain.api_keys import KeyScope
from meterflow.domain.modes import Mode

SESSION_COOKIE = "mf_console"
SIGN_IN_COOKIE = "mf_console_sign_in"  # the sign-in form's token, before a session exists (double submit)
CSRF_FIELD = "csrf_token"


def new_secret() -> str:
    """A session id or a CSRF token: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def session_key(session_id: str) -> str:
    """Where a session is kept: a hash, so that a read of the store never yields a cookie to replay."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def same_token(expected: str | None, given: str | None) -> bool:
    """In constant time; a missing token never matches, even another missing one."""
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


def sign_in_refusal(scope: KeyScope | None) -> str | None:
    """Why a key may not open the console, or None. An ingest-scoped key is handed to event senders: it
    must not read or change anything, so it never opens the console. The key's mode is the console's
    mode, so a test key only ever sees test objects."""
    if scope is None:
        return "This API key is unknown or revoked"
    if scope is not KeyScope.FULL:
        return "An ingest-scoped key cannot open the console: sign in with a full-scope key"
    return None


@dataclass(frozen=True)
class ConsoleSession:
    """A signed-in console: its mode is the key's, and every form it renders carries `csrf_token`."""

    mode: Mode
    key_hash: str
    csrf_token: str
    expires_at: datetime

"""Signing in to the ops console with an API key, and the session each page checks.

The session store keeps sessions server-side with their expiry (a sign-out or expiry forgets them at once);
every page also asks the catalog for the key again, so a key revoked meanwhile ends its sessions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from meterflow.application.ports.console import KeyGrants, SessionStore
from meterflow.clock import Clock
from meterflow.domain.api_keys import KeyScope, claimed_mode, hash_api_key
from meterflow.domain.console_sessions import ConsoleSession, new_secret, session_key, sign_in_refusal
from meterflow.domain.errors import FieldError


@dataclass(frozen=True)
class ConsoleSessions:
    grants: KeyGrants
    store: SessionStore
    clock: Clock
    lifetime: timedelta

    async def sign_in(self, api_key: str) -> tuple[str, ConsoleSession]:
        """A new session id (for the cookie) and its session; a `FieldError` on `api_key` saying why not."""
        key = api_key.strip()
        grant = await self.grants.key_grant(hash_api_key(key)) if claimed_mode(key) else None
        refusal = sign_in_refusal(grant[1] if grant else None)
        if grant is None or refusal:
            raise FieldError("api_key", refusal or "This API key cannot open the console")
        session_id = new_secret()
        session = ConsoleSession(grant[0], hash_api_key(key), new_secret(), self.clock.now() + self.lifetime)
        await self.store.keep(session_key(session_id), session, self.lifetime)
        return session_id, session

    async def session(self, session_id: str | None) -> ConsoleSession | None:
        """The live session of this id, or None (unknown, expired, or its key revoked or narrowed)."""
        if not session_id:
            return None
        session = await self.store.find(session_key(session_id))
        if session is None or session.expires_at <= self.clock.now():
            return None
        grant = await self.grants.key_grant(session.key_hash)
        if grant is None or grant != (session.mode, KeyScope.FULL):
            await self.store.forget(session_key(session_id))
            return None
        return session

    async def sign_out(self, session_id: str | None) -> None:
        if session_id:
            await self.store.forget(session_key(session_id))

"""Who may open the ops console, and how its tokens compare."""

from __future__ import annotations

from meterflow.domain.api_keys import KeyScope
from meterflow.domain.console_sessions import new_secret, same_token, session_key, sign_in_refusal


def test_only_a_full_scope_key_opens_the_console() -> None:
    assert sign_in_refusal(KeyScope.FULL) is None
    assert "ingest-scoped" in (sign_in_refusal(KeyScope.INGEST) or "")
    assert "unknown or revoked" in (sign_in_refusal(None) or "")


def test_a_missing_token_never_matches_even_another_missing_one() -> None:
    token = new_secret()
    assert same_token(token, token)
    assert not same_token(token, token + "x")
    assert not same_token(token, None)
    assert not same_token(None, None)
    assert not same_token("", "")


def test_sessions_are_kept_under_a_hash_of_their_id_never_the_id() -> None:
    session_id = new_secret()
    assert len(session_id) >= 43  # 256 bits, URL-safe
    assert session_key(session_id) != session_id
    assert session_key(session_id) == session_key(session_id)
    assert new_secret() != new_secret()

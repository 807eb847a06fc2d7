"""A portal token's rules: 256 random bits as 64 hex characters, kept only as a hash, opening nothing
once revoked or from the instant it expires."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from meterflow.domain.errors import FieldError
from meterflow.domain.modes import Mode
from meterflow.domain.portal_tokens import (
    PortalToken,
    checked_expiry,
    hash_token,
    new_token,
    portal_url,
    well_formed,
)

NOW = datetime(2026, 12, 5, 12, tzinfo=UTC)
TOKEN = PortalToken("ptk_1", Mode.TEST, "cus_1", "h", "", None, None, NOW, NOW)


def test_a_new_token_is_64_hex_characters_and_never_repeats() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100 and all(well_formed(t) for t in tokens)
    assert not any(well_formed(t) for t in ("", "0" * 63, "0" * 65, "G" * 64, "A" * 64, "0" * 63 + "\n"))


def test_only_a_hash_is_kept_and_it_is_not_the_token() -> None:
    token = new_token()
    assert hash_token(token) == hash_token(token) != token and len(hash_token(token)) == 64


def test_a_token_opens_until_it_is_revoked_or_expires() -> None:
    assert TOKEN.opens(NOW)
    assert not replace(TOKEN, revoked_at=NOW).opens(NOW)
    expiring = replace(TOKEN, expires_at=NOW + timedelta(seconds=1))
    assert expiring.opens(NOW) and not expiring.opens(NOW + timedelta(seconds=1))


def test_a_token_cannot_be_born_expired() -> None:
    assert checked_expiry(None, NOW) is None
    with pytest.raises(FieldError) as refused:
        checked_expiry(NOW, NOW)
    assert refused.value.param == "expires_at"


def test_the_link_is_the_public_address_and_the_token() -> None:
    assert portal_url("https://billing.example.com/", "ab" * 32) == f"https://billing.example.com/portal/{'ab' * 32}"

"""The stored answers to Idempotency-Key requests against real Postgres: one claim wins, and the
closer's upkeep forgets answers past their 24 h while a younger one stays replayable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from meterflow.adapters.idempotency_repository import IdempotencyRepository
from meterflow.adapters.postgres import Pool
from meterflow.domain.idempotency import KEPT_FOR
from meterflow.domain.modes import Mode
from tests.support import unique

pytestmark = pytest.mark.postgres
NOW = datetime.now(UTC)


async def test_of_two_claims_of_one_key_one_wins_and_the_same_key_in_the_other_mode_is_apart(pool: Pool) -> None:
    store, key = IdempotencyRepository(pool), unique("idem")
    assert await store.claim(Mode.TEST, key, "f1", NOW)
    assert not await store.claim(Mode.TEST, key, "f2", NOW)
    assert await store.claim(Mode.LIVE, key, "f2", NOW)


async def test_answers_past_their_24_hours_are_forgotten_and_younger_ones_kept(pool: Pool) -> None:
    store, old, young = IdempotencyRepository(pool), unique("old"), unique("young")
    assert await store.claim(Mode.TEST, old, "f", NOW - KEPT_FOR - timedelta(seconds=1))
    assert await store.claim(Mode.TEST, young, "f", NOW - KEPT_FOR + timedelta(minutes=1))
    await store.store(Mode.TEST, young, 201, b'{"customer": {}}')
    assert await store.purge(NOW - KEPT_FOR) >= 1
    assert await store.stored(Mode.TEST, old) is None
    kept = await store.stored(Mode.TEST, young)
    assert kept is not None and (kept.status, kept.body) == (201, b'{"customer": {}}')

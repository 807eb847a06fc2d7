"""The Idempotency-Key decision from the stored record alone (domain/idempotency.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from meterflow.domain.idempotency import KEPT_FOR, STALE_AFTER, Decision, StoredRequest, decide, fingerprint

NOW = datetime(2027, 1, 1, 12, tzinfo=UTC)
PRINT = fingerprint("POST", "/v1/customers", "", b'{"name": "A"}')


@pytest.mark.parametrize(("stored", "decision"), [
    (StoredRequest(PRINT, NOW - timedelta(hours=1), 201, b"{}"), Decision.REPLAY),
    (StoredRequest(PRINT, NOW - timedelta(seconds=1), None, None), Decision.IN_FLIGHT),
    (StoredRequest(PRINT, NOW - STALE_AFTER, None, None), Decision.EXECUTE),  # its process died
    (StoredRequest("other", NOW - timedelta(hours=1), 201, b"{}"), Decision.MISMATCH),
    (StoredRequest("other", NOW - KEPT_FOR, 201, b"{}"), Decision.EXECUTE),  # forgotten after 24 h
])
def test_each_stored_state_decides_one_answer(stored: StoredRequest, decision: Decision) -> None:
    assert decide(stored, PRINT, NOW) is decision


def test_the_fingerprint_covers_method_path_query_and_body_without_ambiguity() -> None:
    assert fingerprint("POST", "/v1/customers", "", b'{"name": "A"}') == PRINT
    assert len({PRINT, fingerprint("PUT", "/v1/customers", "", b'{"name": "A"}'),
                fingerprint("POST", "/v1/customers", "a=1", b'{"name": "A"}'),
                fingerprint("POST", "/v1/customers", "", b'{"name": "B"}'),
                fingerprint("POST", "/v1/customer", "s", b'{"name": "A"}')}) == 5

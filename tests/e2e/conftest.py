"""Fixtures of the end-to-end tier."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest


@pytest.fixture
def today() -> datetime:
    """Midnight UTC of the day the test runs, read when the test starts (not at import: a session that
    crosses midnight would otherwise place its "past" periods in the wrong days)."""
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

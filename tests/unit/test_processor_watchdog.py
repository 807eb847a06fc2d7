"""The processor's watchdog: exit only after being unable to consume for longer than the limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from meterflow.clock import SteppedClock
from services.processor.watchdog import Watchdog


def watchdog() -> tuple[Watchdog, SteppedClock]:
    clock = SteppedClock(datetime(2027, 1, 1, tzinfo=UTC))
    return Watchdog(clock, timedelta(seconds=60)), clock


def test_unhealthy_for_less_than_the_limit_keeps_running() -> None:
    dog, clock = watchdog()
    assert not dog.should_exit(healthy=False)
    clock.advance(timedelta(seconds=60))
    assert not dog.should_exit(healthy=False)


def test_unhealthy_past_the_limit_exits() -> None:
    dog, clock = watchdog()
    dog.should_exit(healthy=False)
    clock.advance(timedelta(seconds=61))
    assert dog.should_exit(healthy=False)


def test_a_healthy_check_starts_the_count_again() -> None:
    dog, clock = watchdog()
    dog.should_exit(healthy=False)
    clock.advance(timedelta(seconds=50))
    assert not dog.should_exit(healthy=True)
    clock.advance(timedelta(seconds=50))
    assert not dog.should_exit(healthy=False)
    clock.advance(timedelta(seconds=50))
    assert not dog.should_exit(healthy=False)

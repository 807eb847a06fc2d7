"""The supervisor's healing policy: restart after a backoff, give up on a crash loop."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from meterflow.settings import Settings
from services.supervisor import CrashLoop, Healer


@dataclass
class FakeChild:
    name: str
    running: bool = True
    starts: int = 0

    def start(self) -> None:
        self.starts += 1
        self.running = True

    def alive(self) -> bool:
        return self.running

    def stop(self, timeout_s: float = 15.0) -> None:
        self.running = False


def test_a_child_that_exits_is_restarted_after_its_backoff_not_before() -> None:
    child = FakeChild("processor", running=False)
    healer = Healer(Settings(), [child])
    healer.check(now=100.0)
    healer.check(now=100.4)
    assert child.starts == 0
    healer.check(now=100.5)
    assert child.starts == 1 and child.alive()


def test_backoff_grows_with_each_recent_exit() -> None:
    child = FakeChild("closer")
    healer = Healer(Settings(), [child])
    now = 0.0
    delays = []
    for _ in range(3):
        child.running = False
        healer.check(now)
        delays.append(healer.due["closer"] - now)
        now = healer.due["closer"]
        healer.check(now)
    assert delays == [0.5, 1.0, 2.0]


def test_a_crash_loop_stops_restarting() -> None:
    child = FakeChild("gateway")
    healer = Healer(Settings(restart_limit=3, restart_window_s=60), [child])
    now = 0.0
    with pytest.raises(CrashLoop, match="gateway exited 3 times"):
        for _ in range(3):
            child.running = False
            healer.check(now)
            now = healer.due["gateway"]
            healer.check(now)


def test_exits_older_than_the_window_are_forgotten() -> None:
    child = FakeChild("gateway")
    healer = Healer(Settings(restart_limit=2, restart_window_s=10), [child])
    for now in (0.0, 100.0, 200.0):
        child.running = False
        healer.check(now)
        healer.check(healer.due["gateway"])
    assert child.starts == 3


@dataclass
class StubbornServer(FakeChild):
    """Comes up, then fails its own readiness step (Postgres still replaying its WAL) `failures` times."""

    failures: int = 1

    def start(self) -> None:
        super().start()
        if self.failures:
            self.failures -= 1
            raise TimeoutError("not accepting logins yet")


def test_a_restart_that_fails_is_stopped_and_tried_again_with_backoff_not_the_end_of_the_run() -> None:
    child = StubbornServer("postgres", running=False)
    healer = Healer(Settings(), [child])
    healer.check(now=0.0)
    healer.check(now=0.5)  # the restart fails: the half-started server is stopped, not left for dead
    assert child.starts == 1 and not child.alive()
    healer.check(now=0.5)
    healer.check(now=1.5)  # one more exit within the window: a longer backoff, then it comes back
    assert child.starts == 2 and child.alive()

"""The closer's replay loop (services/closer/replays.py): after each job that completed, and only then,
every alert is evaluated (a replay changes usage without the processor, which evaluates alerts only for
what it counts); a job that failed is not followed by an evaluation, and the loop goes on."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

from meterflow.application.replay import Replayer
from services.closer.replays import replay_forever


class Jobs:
    """`run_next` answers each of `script` in turn (an exception is raised), then None forever."""

    def __init__(self, *script: object) -> None:
        self.script = list(script)

    async def run_next(self) -> Any:
        if not self.script:
            return None
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step


class Job:
    id = "job_1"


async def test_alerts_are_evaluated_after_each_completed_job_only() -> None:
    jobs, evaluated, done = Jobs(Job(), RuntimeError("failed job"), Job()), [], asyncio.Event()

    async def replayed() -> None:
        evaluated.append(len(jobs.script))
        if len(evaluated) == 2:
            done.set()

    loop = asyncio.create_task(replay_forever(cast(Replayer, jobs), 0.01, replayed))
    try:
        async with asyncio.timeout(5):
            await done.wait()
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
    assert evaluated == [2, 0]  # after the first job and after the third, not after the failed one

"""Helpers for tests that drive real processes: settings for a test stack, service subprocesses,
waiting on a condition with a deadline (never a bare sleep)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from meterflow.adapters.kafka import ensure_topics
from meterflow.settings import Settings
from services.devstack.embedded import EmbeddedStack, free_port, stop_process, wait_for_port
from services.wiring import kafka_setup

T = TypeVar("T")


@dataclass(frozen=True)
class TestEnvironment:
    """The session's servers: their settings, and the embedded stack when we started them ourselves
    (fault tests restart its servers; with testcontainers it is None)."""

    __test__ = False
    settings: Settings
    stack: EmbeddedStack | None


def stack_settings(data_dir: Path, kafka: str, redis: str, database: str) -> Settings:
    return Settings(kafka_bootstrap=kafka, redis_url=redis, database_url=database, data_dir=data_dir,
                    api_port=free_port(), processor_web_port=free_port(), closer_web_port=free_port(),
                    webhook_web_port=free_port(), payments_web_port=free_port(),
                    kafka_session_timeout_s=3, kafka_heartbeat_interval_s=1, processor_commit_interval_s=0.5,
                    close_interval_s=1)


def service_env(settings: Settings, **overrides: Any) -> dict[str, str]:
    values = {**settings.model_dump(exclude_none=True), **overrides}
    env = {k: v for k, v in os.environ.items() if not k.startswith("MF_")}
    env.update({f"MF_{name.upper()}": str(value) for name, value in values.items()})
    return env


@dataclass
class ServiceProcess:
    """`meterflow <name>` as a real subprocess, with the test stack's settings."""

    name: str
    settings: Settings
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    def start(self, **overrides: Any) -> None:
        self.log_path = self.settings.data_dir / f"{self.name}-{uuid.uuid4().hex[:6]}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "services", self.name],
                                            env=service_env(self.settings, **overrides), stdout=log,
                                            stderr=subprocess.STDOUT)
        if self.name == "gateway":
            wait_for_port(int(overrides.get("api_port", self.settings.api_port)), 60, self.process)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.process is not None:
            stop_process(self.process, sig, 20)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    @classmethod
    @contextlib.contextmanager
    def running(cls, name: str, settings: Settings, **overrides: Any) -> Iterator[ServiceProcess]:
        service = cls(name, settings)
        service.start(**overrides)
        try:
            yield service
        finally:
            service.stop()


async def eventually(probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], timeout_s: float = 30.0,
                     interval_s: float = 0.1) -> T:
    """Poll `probe` until `accept` holds; fail with the last value seen when the deadline passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await probe()
        if accept(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s; last value: {value!r}")
        await asyncio.sleep(interval_s)


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


async def isolated_settings(settings: Settings, **overrides: Any) -> Settings:
    """`settings` with topics, consumer group, ports and spool of one test only (created), so that its own
    gateway and processor never meet the session's; `overrides` set more (another Redis, say)."""
    tag = unique("f")[:14]
    isolated = settings.model_copy(update={
        "events_topic_test": f"{tag}.events.test", "events_topic_live": f"{tag}.events.live",
        "dlq_topic": f"{tag}.events.dlq", "processor_id": f"{tag}-processor", "api_port": free_port(),
        "processor_web_port": free_port(), "topic_partitions": 4,
        # A spool of its own: one left by another test holds that test's events, which would be forwarded
        # to this test's topics.
        "spool_dir": settings.data_dir / "spool" / tag, **overrides})
    await ensure_topics(kafka_setup(isolated))
    return isolated

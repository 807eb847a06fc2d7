"""Helpers for tests that drive real processes: settings for a test stack and service subprocesses. Waiting
on a condition with a deadline (`eventually`) and a service's environment (`service_env`) are the kit's
(testkit), shared with the bench, and offered here too for the tests that import them from this module."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meterflow.settings import Settings
from services.devstack.embedded import EmbeddedStack, stop_process, wait_for_port
from testkit.environment import service_env
from testkit.polling import eventually
from testkit.ports import free_port

__all__ = ["ServiceProcess", "TestEnvironment", "eventually", "service_env", "stack_settings", "unique"]



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


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"

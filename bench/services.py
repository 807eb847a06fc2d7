"""The services under test as real subprocesses (`meterflow gateway|processor|close-periods`), with the
bench's settings passed the only way production passes them: `MF_*` environment variables."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from meterflow.settings import Settings
from services.lifecycle import die_with_parent
from testkit.environment import service_env
from testkit.polling import wait_ready


def log_path(settings: Settings, name: str) -> Path:
    path: Path = settings.data_dir / "logs" / f"{name}-{settings.processor_id}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def spawn(settings: Settings, *command: str) -> subprocess.Popen[bytes]:
    """`meterflow <command>`, told to die with us so an interrupted bench leaves no service behind."""
    with log_path(settings, command[0]).open("ab") as log:
        return subprocess.Popen([sys.executable, "-m", "services", *command],
                                env=service_env(settings), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)


def stop(process: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.asynccontextmanager
async def running_gateway(settings: Settings) -> AsyncIterator[tuple[str, subprocess.Popen[bytes]]]:
    """A running `meterflow gateway`; yields its base URL and its process (for its CPU time)."""
    process = spawn(settings, "gateway")
    try:
        base_url = f"http://127.0.0.1:{settings.api_port}"
        await wait_ready(f"{base_url}/readyz", process)
        yield base_url, process
    finally:
        await asyncio.to_thread(stop, process)


@contextlib.asynccontextmanager
async def gateway(settings: Settings) -> AsyncIterator[str]:
    """A running `meterflow gateway`; yields its base URL."""
    async with running_gateway(settings) as (base_url, _):
        yield base_url


@contextlib.asynccontextmanager
async def processor(settings: Settings) -> AsyncIterator[subprocess.Popen[bytes]]:
    """A running `meterflow processor`: ready means its clients are built, not that it has joined the
    group yet (Tansu holds a join for a session timeout), so callers wait on their own condition."""
    process = spawn(settings, "processor")
    try:
        await wait_ready(f"http://127.0.0.1:{settings.processor_web_port}/readyz", process)
        yield process
    finally:
        await asyncio.to_thread(stop, process)

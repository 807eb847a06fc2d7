"""The services under test as real subprocesses (`meterflow gateway|processor|close-periods`), with the
bench's settings passed the only way production passes them: `MF_*` environment variables."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from pydantic import SecretStr

from meterflow.settings import Settings
from services.devstack.embedded import _die_with_parent


def service_env(settings: Settings) -> dict[str, str]:
    """Every setting spelled out, so a stray MF_* variable of the caller cannot change what is measured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MF_")}
    env.update({f"MF_{name.upper()}": str(value.get_secret_value() if isinstance(value, SecretStr) else value)
                for name, value in settings.model_dump(exclude_none=True).items()})
    return env


def log_path(settings: Settings, name: str) -> Path:
    path: Path = settings.data_dir / "logs" / f"{name}-{settings.processor_id}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def spawn(settings: Settings, *command: str) -> subprocess.Popen[bytes]:
    """`meterflow <command>`, told to die with us so an interrupted bench leaves no service behind."""
    with log_path(settings, command[0]).open("ab") as log:
        return subprocess.Popen([sys.executable, "-m", "services", *command],
                                env=service_env(settings), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)


def stop(process: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def wait_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float = 90.0) -> None:
    """Until `url` answers 200 (a service's /readyz), failing early if the process died."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2.0) as client:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args!r} exited with {process.returncode} before it was ready")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} not ready after {timeout_s}s")
            await asyncio.sleep(0.1)


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

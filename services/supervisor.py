"""`meterflow run`: the embedded stack plus gateway, processor and closer, in the foreground.

Servers not given by settings are started as children; the three services run as child processes of
their own (`meterflow gateway|processor|closer`) exactly as they would in production. Ctrl-C or
SIGTERM stops the services first, then the servers; every child is also told to die with us, so even
a kill -9 of this process frees the ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from types import FrameType

import httpx

from meterflow.adapters.kafka import ensure_topics
from meterflow.embedded import EmbeddedStack, _die_with_parent, build_stack, wait_for_port
from meterflow.migrations import upgrade_to_head
from meterflow.settings import Settings

SERVICES = ("gateway", "processor", "closer")
# Tansu makes a consumer wait the whole session timeout before it joins; Kafka's usual 10 s+ would
# leave a local run (and its tests) idle for that long. Used only when the broker is the embedded one.
EMBEDDED_KAFKA_TIMEOUTS = {"MF_KAFKA_SESSION_TIMEOUT_S": "3", "MF_KAFKA_HEARTBEAT_INTERVAL_S": "1"}


def embedded_stack_for(settings: Settings) -> EmbeddedStack:
    return build_stack(
        settings.data_dir,
        kafka_port=None if settings.kafka_bootstrap else settings.embedded_kafka_port,
        redis_port=None if settings.redis_url else settings.embedded_redis_port,
        postgres_port=None if settings.database_url else settings.embedded_postgres_port,
    )


def service_environment(settings: Settings) -> dict[str, str]:
    """What every child service needs: the resolved addresses of the three servers."""
    env = dict(os.environ)
    env.update({"MF_KAFKA_BOOTSTRAP": settings.kafka_servers, "MF_REDIS_URL": settings.redis_dsn,
                "MF_DATABASE_URL": settings.database_dsn})
    if not settings.kafka_bootstrap:
        for name, value in EMBEDDED_KAFKA_TIMEOUTS.items():
            env.setdefault(name, value)
    return env


def start_service(name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "services", name], env=env,
                            preexec_fn=_die_with_parent)


def stop_processes(processes: list[subprocess.Popen[bytes]], timeout_s: float = 15.0) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + timeout_s
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_ready(url: str, timeout_s: float, process: subprocess.Popen[bytes]) -> None:
    """Announce "up" only once the processor holds its partitions: events sent then count at once."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout_s}s")


class _Stop(Exception):
    pass


def _raise_stop(signum: int, _: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def run(settings: Settings) -> int:
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    started = time.monotonic()
    stack = embedded_stack_for(settings)
    services: list[subprocess.Popen[bytes]] = []
    try:
        stack.start()
        upgrade_to_head(settings.database_dsn)
        asyncio.run(ensure_topics(settings))
        env = service_environment(settings)
        services = [start_service(name, env) for name in SERVICES]
        wait_for_port(settings.api_port, 60, services[0])
        wait_until_ready(f"http://127.0.0.1:{settings.processor_web_port}/readyz", 90, services[1])
        print(f"meterflow is up in {time.monotonic() - started:.1f}s: API at "
              f"http://{settings.api_host}:{settings.api_port}  (Ctrl-C stops everything)", flush=True)
        while all(s.poll() is None for s in services):
            time.sleep(0.5)
        failed = [name for name, s in zip(SERVICES, services, strict=True) if s.poll() is not None]
        print(f"meterflow: {', '.join(failed)} exited; stopping everything", file=sys.stderr, flush=True)
        return 1
    except _Stop:
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop_processes(services)
        stack.stop()

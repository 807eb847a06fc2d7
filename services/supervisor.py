"""`meterflow run`: the embedded stack plus gateway, processor, closer, webhook delivery worker and payment
worker, in the foreground, kept alive; one process of each, or as many as `--scale` asks (services/topology.py).

Every child (server or service) runs in a session of its own, so a terminal's Ctrl-C, which signals the
whole foreground process group, reaches only this supervisor; it then stops the children in an order
that loses nothing acknowledged:
1. the gateway goes into drain mode (SIGUSR1, to each of its processes): new writes answer 503 with
   Retry-After, requests in flight finish (a 202 is only ever sent once the broker acknowledged the batch);
2. the processors keep running until their group has committed every record on the events topics, and no
   new record arrived since the last look, for at most `drain_timeout_s` (past it, a loud message names
   the partitions and records left);
3. the gateway, processor, closer, webhook and payment workers stop, then the servers (Postgres last).
A second Ctrl-C skips the wait. While running, a child that exits is restarted with backoff, logged and
counted (`meterflow_service_restarts_total`); a child that keeps dying (`restart_limit` exits within
`restart_window_s`) stops everything with exit status 1. A restarted embedded broker starts empty, so
topics are ensured again and the processor is restarted to join the new broker's group afresh; before the
broker starts again, with the processor stopped, what it held unsettled is recorded as lost, printed and
exported (`meterflow_events_lost`), the same check running at every start (docs/accounting.md). Every
child is also told to die with us (PR_SET_PDEATHSIG), so even a kill -9 of this process frees the ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from types import FrameType
from typing import Protocol

import httpx
from aiokafka import TopicPartition
from prometheus_client import start_http_server

from meterflow.adapters.kafka import ensure_topics, last_offsets, unprocessed
from meterflow.clock import SystemClock
from meterflow.migrations import upgrade_to_head
from meterflow.observability import SERVICE_RESTARTS
from meterflow.settings import Settings
from services.accounting_ops import check_loss
from services.devstack.embedded import (
    EmbeddedStack,
    build_stack,
    stop_process,
    wait_for_port,
)
from services.lifecycle import die_with_parent
from services.topology import Instance, instances
from services.wiring import kafka_setup

# Tansu makes a consumer wait the whole session timeout before it joins; Kafka's usual 10 s+ would
# leave a local run (and its tests) idle for that long. Used only when the broker is the embedded one.
EMBEDDED_KAFKA_TIMEOUTS = {"MF_KAFKA_SESSION_TIMEOUT_S": "3", "MF_KAFKA_HEARTBEAT_INTERVAL_S": "1"}
RESTART_BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0)
POLL_S = 0.2
PROCESSOR_STOP_WITHOUT_BROKER_S = 3.0


def embedded_stack_for(settings: Settings) -> EmbeddedStack:
    return build_stack(
        settings.data_dir,
        kafka_port=None if settings.kafka_bootstrap else settings.embedded_kafka_port,
        redis_port=None if settings.redis_url else settings.embedded_redis_port,
        postgres_port=None if settings.database_url else settings.embedded_postgres_port,
    )


def web_ports(settings: Settings) -> dict[str, int]:
    """Each worker service's health/metrics port, from which its further copies' ports are counted."""
    return {"processor": settings.processor_web_port, "closer": settings.closer_web_port,
            "webhooks": settings.webhook_web_port, "payments": settings.payments_web_port}


def service_environment(settings: Settings) -> dict[str, str]:
    """What every child service needs: the resolved addresses of the three servers."""
    env = dict(os.environ)
    env.update({"MF_KAFKA_BOOTSTRAP": settings.kafka_servers, "MF_REDIS_URL": settings.redis_dsn,
                "MF_DATABASE_URL": settings.database_dsn})
    if not settings.kafka_bootstrap:
        for name, value in EMBEDDED_KAFKA_TIMEOUTS.items():
            env.setdefault(name, value)
    return env


class Child(Protocol):
    """A supervised process: an embedded server or a service."""

    name: str

    def start(self) -> None: ...

    def alive(self) -> bool: ...

    def stop(self, timeout_s: float = 15.0) -> None: ...


@dataclass
class ServiceChild:
    """One process of a service (`meterflow gateway|processor|…`), in its own session; `name` tells the
    copies of one service apart (`processor-2`)."""

    name: str
    env: dict[str, str]
    kind: str = ""  # the `meterflow` command; the name when there is one copy
    process: subprocess.Popen[bytes] | None = None

    @classmethod
    def of(cls, instance: Instance, env: dict[str, str]) -> ServiceChild:
        return cls(instance.name, env | dict(instance.env), instance.kind)

    def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "services", self.kind or self.name], env=self.env,
                                        preexec_fn=die_with_parent, start_new_session=True)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        """To the child's whole group: a gateway with several workers (uvicorn's) drains in each of them."""
        if self.process is not None and self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)

    def stop(self, timeout_s: float = 15.0) -> None:
        if self.process is not None and stop_process(self.process, signal.SIGTERM, timeout_s):
            print(f"meterflow: {self.name} did not stop within {timeout_s:.0f}s; killed it", file=sys.stderr)


class CrashLoop(Exception):
    """A child exited `restart_limit` times within the window: restarting it again would only hide it."""


@dataclass
class Healer:
    """Restarts children that exited, with backoff; gives up on a crash loop."""

    settings: Settings
    children: Sequence[Child]
    exits: dict[str, deque[float]] = field(default_factory=dict)
    due: dict[str, float] = field(default_factory=dict)
    # Called with the broker down and no processor running, before the broker starts again (empty).
    broker_lost: Callable[[], None] = lambda: None

    def check(self, now: float, skip: frozenset[str] = frozenset()) -> None:
        for child in self.children:
            if child.name in skip or child.alive():
                continue
            if child.name not in self.due:
                self.due[child.name] = now + self._backoff(child.name, now)
            elif now >= self.due[child.name]:
                del self.due[child.name]
                self._restart(child)

    def _backoff(self, name: str, now: float) -> float:
        recent = self.exits.setdefault(name, deque())
        recent.append(now)
        while recent and recent[0] < now - self.settings.restart_window_s:
            recent.popleft()
        if len(recent) >= self.settings.restart_limit:
            raise CrashLoop(f"{name} exited {len(recent)} times within {self.settings.restart_window_s:.0f}s")
        delay = RESTART_BACKOFF_S[min(len(recent), len(RESTART_BACKOFF_S)) - 1]
        print(f"meterflow: {name} exited; restarting it in {delay:.1f}s", file=sys.stderr, flush=True)
        return delay

    def _restart(self, child: Child) -> None:
        if child.name != "kafka":
            self._start(child)
            return
        # The embedded broker kept topics, records and group offsets in memory: all gone. The processor
        # stops first, so that nothing settles meanwhile and the loss check is exact; it then joins the
        # new broker's group afresh.
        consumers = [c for c in self.children if isinstance(c, ServiceChild) and c.kind == "processor" and c.alive()]
        for consumer in consumers:
            # With no broker to commit to it may not stop cleanly; a kill is safe (exactly-once.md) and
            # keeps ingest refused for seconds, not the whole stop timeout.
            consumer.stop(PROCESSOR_STOP_WITHOUT_BROKER_S)
        self.broker_lost()
        self._start(child)
        asyncio.run(ensure_topics(kafka_setup(self.settings)))
        for consumer in consumers:
            self._start(consumer)

    def _start(self, child: Child) -> None:
        SERVICE_RESTARTS.labels(child.name).inc()
        try:
            child.start()
        except (OSError, subprocess.SubprocessError, TimeoutError, RuntimeError) as exc:
            # A restart that fails (Postgres still recovering after a kill -9 on a loaded machine, a port
            # not yet free) is one more exit: tried again with backoff, and a crash loop still gives up.
            print(f"meterflow: {child.name} did not come back ({exc!r}); trying again", file=sys.stderr,
                  flush=True)
            child.stop(0)
            return
        print(f"meterflow: {child.name} restarted", file=sys.stderr, flush=True)


class _Stop(Exception):
    pass


@dataclass
class StopSignals:
    """SIGINT/SIGTERM: during start-up, abort at once; once running, ask for a drain (twice: hurry)."""

    received: int = 0
    running: bool = False

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, _: FrameType | None) -> None:
        self.received += 1
        if not self.running:
            raise _Stop(signal.Signals(signum).name)


def wait_until_ready(timeout_s: float, processors: Sequence[ServiceChild]) -> None:
    """Announce "up" only once every processor holds its partitions: events sent then count at once."""
    deadline = time.monotonic() + timeout_s
    for child in processors:
        url = f"http://127.0.0.1:{child.env['MF_PROCESSOR_WEB_PORT']}/readyz"
        while not _ready(url):
            if time.monotonic() > deadline or not child.alive():
                raise RuntimeError(f"{child.name} not ready at {url} after {timeout_s}s")
            time.sleep(POLL_S)


def _ready(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(url, timeout=1).status_code == 200
    return False


def drain(settings: Settings, gateway: ServiceChild, healer: Healer, signals: StopSignals) -> list[str]:
    """Refuse new writes, then wait until the processor committed every record: what is left, if anything."""
    started = time.monotonic()
    deadline = started + settings.drain_timeout_s
    gateway.signal(signal.SIGUSR1)
    kafka = kafka_setup(settings)
    try:
        seen: dict[TopicPartition, int] = {}
        while True:
            ends = asyncio.run(last_offsets(kafka))  # requests in flight may still be adding records
            left = asyncio.run(unprocessed(kafka, ends))
            if (not left and ends == seen) or time.monotonic() > deadline or signals.received > 1:
                break
            seen = ends
            healer.check(time.monotonic())
            time.sleep(POLL_S)
    except Exception as exc:  # the broker itself is gone: nothing more can be counted
        return [f"the broker could not be read ({exc!r})"]
    finally:
        gateway.stop(settings.drain_timeout_s)
    if not left:
        print(f"meterflow: drained in {time.monotonic() - started:.1f}s", file=sys.stderr, flush=True)
    return [f"{tp.topic}[{tp.partition}]: {n} records" for tp, n in sorted(left.items())]


def report_loss(settings: Settings) -> None:
    """Acknowledged events the memory-only broker took with it, recorded and said out loud (docs/accounting.md:
    a loss is never silent); the gateway stays "degraded" until ops acknowledge them. With the gateway's
    spool there is none to record: it keeps every acknowledged event until it is counted and produces
    again what the broker lost (docs/spool.md), so what is in flight is on its way, not lost."""
    if settings.spool_enabled:
        print("meterflow: the embedded broker lost its topics; the gateway's spool produces again every "
              "acknowledged event not yet counted", file=sys.stderr, flush=True)
        return
    for line in asyncio.run(check_loss(settings, SystemClock())):
        print(f"meterflow: {line}", file=sys.stderr, flush=True)


def warn_about_idle_processors(settings: Settings, processors: int) -> None:
    """A consumer group gives each partition to one member: processors past the partition count idle."""
    if processors > settings.topic_partitions:
        print(f"meterflow: {processors} processors but {settings.topic_partitions} partitions per events "
              f"topic (MF_TOPIC_PARTITIONS): {processors - settings.topic_partitions} will stand by",
              file=sys.stderr, flush=True)


def run(settings: Settings, counts: dict[str, int] | None = None) -> int:
    """Supervise the stack and `counts` processes of each service (one of each service not named)."""
    signals = StopSignals()
    signals.install()
    started = time.monotonic()
    stack = embedded_stack_for(settings)
    env = service_environment(settings) | {"MF_PROCESSOR_WEB_PORT": str(settings.processor_web_port)}
    services = [ServiceChild.of(instance, env) for instance in instances(counts or {}, web_ports(settings))]
    gateway = services[0]
    processors = [service for service in services if service.kind == "processor"]
    warn_about_idle_processors(settings, len(processors))
    metrics_server = None
    try:
        stack.start()
        upgrade_to_head(settings.database_dsn)
        asyncio.run(ensure_topics(kafka_setup(settings)))
        if not settings.kafka_bootstrap:  # a fresh embedded broker: what a previous run left unsettled is gone
            report_loss(settings)
        metrics_server, _ = start_http_server(settings.supervisor_web_port, settings.api_host)
        for service in services:
            service.start()
        wait_for_port(settings.api_port, 60, gateway.process)
        wait_until_ready(90, processors)
        print(f"meterflow is up in {time.monotonic() - started:.1f}s: API at "
              f"http://{settings.api_host}:{settings.api_port}  (Ctrl-C stops everything)", flush=True)
        signals.running = True
        healer = Healer(settings, [*stack.servers, *services], broker_lost=partial(report_loss, settings))
        while not signals.received:
            healer.check(time.monotonic())
            time.sleep(POLL_S)
        left = drain(settings, gateway, healer, signals)
    except _Stop:
        return 0
    except CrashLoop as exc:
        print(f"meterflow: {exc}; stopping everything", file=sys.stderr, flush=True)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for service in services:  # all at once: a processor told last would rebalance as each other one left
            service.signal(signal.SIGTERM)
        for service in services:
            service.stop()
        stack.stop()
        if metrics_server is not None:
            metrics_server.shutdown()
    if left:
        print("meterflow: STOPPED WITHOUT COUNTING EVERYTHING ACKNOWLEDGED; left on the broker: "
              + "; ".join(left), file=sys.stderr, flush=True)
        return 1
    return 0

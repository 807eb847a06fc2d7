"""CPU time of the services under test: what a stage costs per event, whatever else shares the machine.

Throughput on a shared 2-core box moves 10 to 20% with the neighbours' work; the CPU seconds a service
process spends (user + system, from the OS, not wall time) per event moves far less, and says how many
events one core of that stage can take (1e6 / µs per event). Live children are included, so a gateway
running several uvicorn workers is counted whole.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import psutil
from redis.asyncio import RedisCluster

from meterflow.adapters.redis_client import RedisClient

SETTLED_STEP_S = 0.2
# Below this many CPU seconds in one step the process is taken as idle (timers, heartbeats, scrapes).
IDLE_CPU_S = 0.01


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU seconds the processes (and their live children) have spent so far."""
    total = 0.0
    for pid in pids:
        process = psutil.Process(pid)
        for member in (process, *process.children(recursive=True)):
            times = member.cpu_times()
            total += times.user + times.system
    return total


async def settled_cpu_seconds(pids: Sequence[int], timeout_s: float = 10.0) -> float:
    """`cpu_seconds` once the processes have gone idle (work behind the answers, such as the spool
    forwarding what it acknowledged, belongs to the events too); given up after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    last = cpu_seconds(pids)
    while time.monotonic() < deadline:
        await asyncio.sleep(SETTLED_STEP_S)
        now = cpu_seconds(pids)
        if now - last < IDLE_CPU_S:
            return now
        last = now
    return last


async def redis_cpu_seconds(redis: RedisClient) -> float:
    """User + system CPU seconds the Redis server has spent so far (`INFO cpu`, its main thread and its
    background threads; every node of a cluster): what a stage costs Redis per event sizes the shards of
    docs/scaling.md."""
    if isinstance(redis, RedisCluster):
        infos = list((await redis.info("cpu", target_nodes=RedisCluster.ALL_NODES)).values())
    else:
        infos = [await redis.info("cpu")]
    return sum(float(info["used_cpu_user"]) + float(info["used_cpu_sys"]) for info in infos)


def us_per_event(cpu_s: float, events: int) -> float | None:
    return cpu_s * 1e6 / events if events else None

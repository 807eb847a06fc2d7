"""Free ports for the servers and services a test or a measurement starts.

Below the kernel's ephemeral range: a port the kernel hands out (bind to 0) lies in the range it also gives
outgoing connections, so a server started a while later may find it taken; ports below that range are
never given away. When the suite runs on several pytest-xdist workers, each worker picks from a band of its
own: a port one worker has chosen but not bound yet (a service started later in its session) can never be
chosen by another.
"""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path

BAND = 12_000  # ports below the ephemeral range that the kit picks from, shared out between workers

_handed_out: set[int] = set()  # never give one port twice in a process, even if not yet bound


def _ephemeral_low() -> int:
    try:
        return min(int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0]), 32768)
    except (OSError, ValueError, IndexError):
        return 32768


def _band() -> range:
    """This process's ports: the whole band, or the worker's share of it under pytest-xdist."""
    high = _ephemeral_low()
    low = max(1024, high - BAND)
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
    share = (high - low) // max(1, workers)
    return range(low + worker * share, low + (worker + 1) * share)


def free_port() -> int:
    band = _band()
    for _ in range(200):
        port = random.choice(band)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port found in {band}")

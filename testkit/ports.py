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


def free_port(copies: int = 1, step: int = 1) -> int:
    """A free port, never handed out before in this process. With `copies`, the port of a service that
    runs in several copies, each listening `step` ports above the previous (`meterflow run --scale`): the
    copies' ports are free and handed out too, so no other server of the run can take one first."""
    band = _band()
    for _ in range(200):
        port = random.choice(range(band.start, band.stop - step * (copies - 1)))
        ports = [port + step * copy for copy in range(copies)]
        if _handed_out.intersection(ports) or not all(map(_bindable, ports)):
            continue
        _handed_out.update(ports)
        return port
    raise RuntimeError(f"no free port found in {band}")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True

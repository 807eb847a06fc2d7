"""How many processes of each service `meterflow run` starts (`--scale gateway=2,processor=3,…`), and what
tells the copies of one service apart.

Processors share one consumer group, so each takes its share of the events topics' partitions; closers,
webhook workers and payment workers share the database, whose locks and leases already let several run at
once (each invoice once, each delivery leased, each charge claimed). What copies of a service must not
share is a listening port: copy k of a service serves its /healthz, /readyz and /metrics 100·(k-1) ports
above the service's configured one, so a scrape configuration can name every copy in advance. The gateway
is the exception: its processes serve the one API port together (uvicorn's workers,
`MF_GATEWAY_WORKERS`), so a client needs one address, and each takes a spool of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

SERVICES = ("gateway", "processor", "closer", "webhooks", "payments")
# The setting of each service's health/metrics port: a second copy needs a port of its own.
WEB_PORT_VARIABLES = {"processor": "MF_PROCESSOR_WEB_PORT", "closer": "MF_CLOSER_WEB_PORT",
                      "webhooks": "MF_WEBHOOK_WEB_PORT", "payments": "MF_PAYMENTS_WEB_PORT"}
COPY_PORT_STEP = 100  # copy k listens this many ports above copy k - 1
MAX_COPIES = 32  # a typo (processor=300) should not fork hundreds of processes on a laptop


class ScaleError(ValueError):
    """A `--scale` that names no service, or a count that is not a whole number from 1 to MAX_COPIES."""


def parse_scale(text: str) -> dict[str, int]:
    """`gateway=2,processor=3` → the count of each service named (one process of the others)."""
    counts: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, equals, count = part.partition("=")
        name = name.strip()
        if name not in SERVICES or not equals:
            raise ScaleError(f"{part!r}: expected service=count with service one of {', '.join(SERVICES)}")
        if not count.strip().isdigit() or not 1 <= int(count) <= MAX_COPIES:
            raise ScaleError(f"{part!r}: the count must be a whole number from 1 to {MAX_COPIES}")
        counts[name] = int(count)
    return counts


@dataclass(frozen=True)
class Instance:
    """One process to supervise: `kind` is the `meterflow` command it runs, `name` tells copies apart
    (`processor`, `processor-2`, …) in logs and in `meterflow_service_restarts_total`."""

    kind: str
    name: str
    env: Mapping[str, str]


def instances(counts: Mapping[str, int], web_ports: Mapping[str, int]) -> list[Instance]:
    """Every process of the topology, copy k of each service on its configured port (`web_ports`) plus
    100·(k-1). A gateway not named keeps MF_GATEWAY_WORKERS as set."""
    planned = []
    for kind in SERVICES:
        if kind == "gateway":
            workers = {"MF_GATEWAY_WORKERS": str(counts[kind])} if kind in counts else {}
            planned.append(Instance(kind, kind, workers))
            continue
        for copy in range(1, counts.get(kind, 1) + 1):
            port = web_ports[kind] + COPY_PORT_STEP * (copy - 1)
            own_port = {} if copy == 1 else {WEB_PORT_VARIABLES[kind]: str(port)}
            planned.append(Instance(kind, kind if copy == 1 else f"{kind}-{copy}", own_port))
    return planned

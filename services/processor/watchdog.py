"""The processor's watchdog: a consumer that cannot consume for too long restarts itself.

After a broker restart (the embedded broker loses its topics; a real one may lose a partition leader) a
consumer can be left holding no partition, or fetching and committing against topics that no longer
exist, and loop on errors forever while looking alive. Every `interval` the watchdog checks that the
events topics exist (re-creating them if they are gone) and that this worker holds partitions; when
that has not been true for `processor_rejoin_timeout_s`, it logs why and exits non-zero, so that the
supervisor (`meterflow run`, Kubernetes, systemd) starts it afresh and it rejoins. Exiting is safe:
offsets are committed only after a batch's effect is durable, so a restart replays, never skips.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from meterflow.adapters.kafka import ensure_topics, missing_topics
from meterflow.clock import Clock
from meterflow.observability import PROCESSOR_ASSIGNED_PARTITIONS
from meterflow.settings import Settings
from services.wiring import kafka_setup

log = logging.getLogger(__name__)
CHECK_INTERVAL_S = 5.0
EXIT_STATUS = 75  # EX_TEMPFAIL: try again


@dataclass
class Watchdog:
    clock: Clock
    limit: timedelta
    unhealthy_since: datetime | None = None

    def should_exit(self, healthy: bool) -> bool:
        """True once the consumer has been unable to consume for longer than the limit."""
        if healthy:
            self.unhealthy_since = None
            return False
        now = self.clock.now()
        self.unhealthy_since = self.unhealthy_since or now
        return now - self.unhealthy_since > self.limit


async def check(settings: Settings, watchdog: Watchdog, assigned_partitions: int) -> None:
    """One round: topics there (made again if not), partitions held; exit once stuck past the limit."""
    PROCESSOR_ASSIGNED_PARTITIONS.set(assigned_partitions)
    try:
        missing = await missing_topics(kafka_setup(settings))
        if missing:
            log.error("events topics missing on the broker (%s): creating them again", ", ".join(missing))
            await ensure_topics(kafka_setup(settings))
    except Exception as exc:  # the broker is away: that is unhealthy too
        log.warning("cannot reach the broker: %r", exc)
        missing = ["(broker unreachable)"]
    if watchdog.should_exit(healthy=not missing and assigned_partitions > 0):
        log.error("no partition consumed for %s (topics missing: %s, partitions held: %d): exiting to rejoin",
                  watchdog.limit, ", ".join(missing) or "none", assigned_partitions)
        os._exit(EXIT_STATUS)  # Faust's own shutdown would try to commit against the broken group

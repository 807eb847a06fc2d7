"""The servers a bench run measures against, and topics of its own for each measurement.

The embedded stack (Tansu, Valkey, Postgres) on free ports in a temp dir, except for any server named
by MF_KAFKA_BOOTSTRAP / MF_REDIS_URL / MF_DATABASE_URL, which is used as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from meterflow.adapters.kafka import ensure_topics
from meterflow.migrations import upgrade_to_head
from meterflow.settings import Settings
from services.devstack.embedded import build_stack, free_port, running
from services.supervisor import EMBEDDED_KAFKA_TIMEOUTS
from services.wiring import kafka_setup


def _embedded_kafka_timeouts() -> dict[str, float]:
    """Tansu makes a joining consumer wait a whole session timeout: use the supervisor's short ones."""
    return {name.removeprefix("MF_").lower(): float(value) for name, value in EMBEDDED_KAFKA_TIMEOUTS.items()}


@dataclass
class Bench:
    """The run's settings; `keep_data` may be set on the way (a failed measurement keeps its logs)."""

    settings: Settings
    keep_data: bool


@contextlib.contextmanager
def bench_stack(keep_data: bool = False) -> Iterator[Bench]:
    """Migrated servers with the events topics created; embedded ones stop on exit."""
    given = Settings()
    # Not a private (0700) folder: as root, Postgres runs as another user and must reach its data.
    data_dir = Path(tempfile.mkdtemp(prefix="meterflow-bench-"))
    data_dir.chmod(0o755)
    ports = {"kafka_port": None if given.kafka_bootstrap else free_port(),
             "redis_port": None if given.redis_url else free_port(),
             "postgres_port": None if given.database_url else free_port()}
    update: dict[str, object] = {"data_dir": data_dir}
    if ports["kafka_port"] is not None:
        update |= {"kafka_bootstrap": f"127.0.0.1:{ports['kafka_port']}", **_embedded_kafka_timeouts()}
    if ports["redis_port"] is not None:
        update["redis_url"] = f"redis://127.0.0.1:{ports['redis_port']}/0"
    if ports["postgres_port"] is not None:
        update["database_url"] = f"postgresql://postgres@127.0.0.1:{ports['postgres_port']}/meterflow"
    settings = given.model_copy(update=update)
    bench = Bench(settings, keep_data)
    try:
        with running(build_stack(data_dir, **ports)):
            upgrade_to_head(settings.database_dsn)
            asyncio.run(ensure_topics(kafka_setup(settings)))
            yield bench
    except BaseException:
        print(f"bench: servers' data and service logs kept in {data_dir}")
        raise
    if bench.keep_data:
        print(f"bench: servers' data and service logs kept in {data_dir}")
    else:
        shutil.rmtree(data_dir, ignore_errors=True)


async def isolated(settings: Settings, name: str) -> Settings:
    """Topics, consumer group and ports of one measurement only, so no figure includes another's work
    (what tests/faults/conftest.py's `isolated` fixture does for a fault test)."""
    tag = f"bench-{name}-{uuid.uuid4().hex[:6]}"
    own = settings.model_copy(update={
        "events_topic_test": f"{tag}.events.test", "events_topic_live": f"{tag}.events.live",
        "dlq_topic": f"{tag}.events.dlq", "processor_id": f"{tag}-processor", "api_port": free_port(),
        "processor_web_port": free_port(), "closer_web_port": free_port(),
        # A gateway spool of its own: another measurement's leftovers would be forwarded to these topics.
        "spool_dir": settings.data_dir / "spool" / tag})
    await ensure_topics(kafka_setup(own))
    return own

"""The servers a bench run measures against, and topics of its own for each measurement.

The embedded stack (Tansu, Valkey, Postgres) on free ports in a temp dir, except for any server named
by MF_KAFKA_BOOTSTRAP / MF_REDIS_URL / MF_DATABASE_URL, which is used as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

from meterflow.adapters.kafka import ensure_topics
from meterflow.migrations import upgrade_to_head
from meterflow.settings import Settings
from services.devstack.embedded import build_stack, running
from services.supervisor import EMBEDDED_KAFKA_TIMEOUTS
from services.wiring import kafka_setup
from testkit.folders import data_folder
from testkit.ports import free_port


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
    data_dir = data_folder("meterflow-bench-")
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

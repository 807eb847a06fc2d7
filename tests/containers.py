"""MF_TEST_CONTAINERS=1: the same suite on Apache Kafka, Redis and Postgres containers (needs Docker)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from testcontainers.kafka import KafkaContainer
from testcontainers.postgres import PostgresContainer
from testcontainers.redis import RedisContainer

from meterflow.settings import Settings
from tests.support import stack_settings


@contextlib.contextmanager
def container_settings(data_dir: Path) -> Iterator[Settings]:
    kafka = KafkaContainer("apache/kafka:3.9.1").with_kraft()
    redis = RedisContainer("redis:7.4").with_command("redis-server --appendonly yes --appendfsync always")
    postgres = PostgresContainer("postgres:17", username="postgres", password="postgres", dbname="meterflow")
    with kafka, redis, postgres:
        yield stack_settings(
            data_dir, kafka.get_bootstrap_server(),
            f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0",
            postgres.get_connection_url(driver=None),
        )

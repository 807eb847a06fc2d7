"""Settings into a service's environment, and settings of one test or measurement only.

A service under test is started the way production starts it: every setting as an `MF_*` variable. Each
one is spelled out, so a stray `MF_*` variable of the caller's shell cannot change what is tested or
measured.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from pydantic import SecretStr

from meterflow.adapters.kafka import ensure_topics
from meterflow.settings import Settings
from services.wiring import kafka_setup
from testkit.ports import free_port


def service_env(settings: Settings, **overrides: Any) -> dict[str, str]:
    values = {**settings.model_dump(exclude_none=True), **overrides}
    env = {k: v for k, v in os.environ.items() if not k.startswith("MF_")}
    env.update({f"MF_{name.upper()}": str(value.get_secret_value() if isinstance(value, SecretStr) else value)
                for name, value in values.items()})
    return env


async def isolated(settings: Settings, name: str, **update: Any) -> Settings:
    """The same servers, with topics, consumer group, ports and spool of this test or measurement only, so
    killing its processes disturbs no one else and every figure it reads is its own."""
    tag = f"{name}-{uuid.uuid4().hex[:8]}"
    own = settings.model_copy(update={
        "events_topic_test": f"{tag}.events.test", "events_topic_live": f"{tag}.events.live",
        "dlq_topic": f"{tag}.events.dlq", "processor_id": f"{tag}-processor", "api_port": free_port(),
        "processor_web_port": free_port(), "closer_web_port": free_port(),
        # A spool of its own: one left by another run holds that run's events, which would be forwarded to
        # these topics.
        "spool_dir": settings.data_dir / "spool" / tag, **update})
    await ensure_topics(kafka_setup(own))
    return own

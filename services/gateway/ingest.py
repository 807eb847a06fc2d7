"""Ingest: validate each event, drop what is already known, publish the rest, answer per event.

`accepted` means acknowledged by all in-sync replicas (acks=all) before we answer. The gateway's
duplicate answer is an early courtesy: a key already counted, or already acknowledged to an earlier
request (adapters/acknowledged_keys.py, marked after the acknowledgement); the processor is the final
judge (docs/exactly-once.md). A batch whose every event is refused accepts nothing and is a 400 naming
each event's fault, so a client's validation helper sees it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from aiokafka.partitioner import murmur2
from aiokafka.producer.message_accumulator import BatchBuilder
from redis.exceptions import RedisError

from meterflow.adapters.dedupe_marks import any_marked_args, digest
from meterflow.adapters.kafka import GATEWAY_SOURCE
from meterflow.domain.errors import FieldErrors
from meterflow.domain.events import Event, EventRejected, event_to_json, parse_event
from meterflow.domain.json_values import text_fault
from meterflow.domain.modes import Mode
from meterflow.logs import REQUEST_ID_HEADER, request_id
from meterflow.observability import DUPLICATES_DROPPED, EVENTS_ACCEPTED, EVENTS_REJECTED
from services.gateway.acknowledged_tally import tally_acknowledged
from services.gateway.context import GatewayContext

MAX_EVENTS_PER_BATCH = 1_000
MAX_BODY_BYTES = 1 << 20
DUPLICATE_CHECK_TIMEOUT_S = 1.0
log = logging.getLogger(__name__)


@dataclass
class IngestResult:
    ingested: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    faults: list[tuple[int, str, str]] = field(default_factory=list)

    def reject(self, index: int, raw: object, param: str, message: str) -> None:
        key = raw.get("idempotency_key") if isinstance(raw, dict) else None
        # A key that is not text (a lone surrogate) cannot be echoed back in a UTF-8 answer.
        echoed = key if isinstance(key, str) and text_fault(key) is None else None
        path = f"events[{index}].{param}" if param else f"events[{index}]"
        self.rejected.append({"index": index, "idempotency_key": echoed, "error": f"{path}: {message}"})
        self.faults.append((index, path, message))

    def refuse_if_nothing_valid(self, valid: int) -> None:
        """Every event refused: a 400 naming each, in batch order."""
        if self.rejected and not valid and not self.duplicates:
            raise FieldErrors({path: message for _, path, message in sorted(self.faults)})

    def as_json(self) -> dict[str, Any]:
        return {"ingested": self.ingested, "duplicates": self.duplicates, "rejected": self.rejected}


async def ingest_batch(ctx: GatewayContext, mode: Mode, raw_events: list[Any], received_at: datetime) -> IngestResult:
    result = IngestResult()
    valid: list[tuple[int, Any, Event]] = []
    for index, raw in enumerate(raw_events):
        try:
            valid.append((index, raw, parse_event(raw, received_at, ctx.policy)))
        except EventRejected as exc:
            EVENTS_REJECTED.labels(exc.param.split(".")[0] or "event").inc()
            result.reject(index, raw, exc.param, exc.message)
    known_customers = await ctx.catalog.existing_customer_ids(mode, {e.customer_id for _, _, e in valid})
    fresh: dict[str, Event] = {}
    for index, raw, event in valid:
        if event.customer_id not in known_customers:
            EVENTS_REJECTED.labels("customer_id").inc()
            result.reject(index, raw, "customer_id", f"no customer {event.customer_id!r} in {mode} mode")
        elif event.idempotency_key in fresh:
            result.duplicates.append(event.idempotency_key)
        else:
            fresh[event.idempotency_key] = event
    result.refuse_if_nothing_valid(len(fresh))
    digests = {key: digest(key) for key in fresh}
    already_known = await _already_known(ctx, mode, digests)
    to_publish = [e for key, e in fresh.items() if key not in already_known]
    result.duplicates += [key for key in fresh if key in already_known]
    await publish(ctx, mode, to_publish, received_at)
    result.ingested = [e.idempotency_key for e in to_publish]
    await _mark_acknowledged(ctx, mode, {key: digests[key] for key in result.ingested}, received_at)
    await tally_acknowledged(ctx, mode, received_at, len(result.ingested))
    EVENTS_ACCEPTED.labels(mode.value).inc(len(to_publish))
    DUPLICATES_DROPPED.labels("gateway").inc(len(result.duplicates))
    return result


async def _already_known(ctx: GatewayContext, mode: Mode, digests: dict[str, bytes]) -> set[str]:
    """Keys counted by the processor or acknowledged to an earlier request, in one round trip. Best
    effort: with Redis away, publish everything and let the processor judge duplicates."""
    if not digests:
        return set()
    script, registries, args = any_marked_args([ctx.usage.counter.marks_layout, ctx.acknowledged.layout],
                                               ((mode, d) for d in digests.values()), legacy=True)
    try:
        found = await asyncio.wait_for(ctx.redis.eval(script, len(registries), *registries, *args),
                                       DUPLICATE_CHECK_TIMEOUT_S)
    except (RedisError, TimeoutError):
        log.warning("duplicate pre-check skipped: Redis unavailable")
        return set()
    return {key for key, hit in zip(digests, found, strict=True) if hit}


async def _mark_acknowledged(ctx: GatewayContext, mode: Mode, digests: dict[str, bytes], now: datetime) -> None:
    """After the broker's acknowledgement only. A failure costs a retry's duplicate publish (which the
    processor drops), never the 202 of events that are already durable."""
    try:
        await asyncio.wait_for(ctx.acknowledged.mark(mode, list(digests.values()), now), DUPLICATE_CHECK_TIMEOUT_S)
    except (RedisError, TimeoutError):
        log.warning("acknowledged keys not remembered: Redis unavailable")


async def publish(ctx: GatewayContext, mode: Mode, events: list[Event], received_at: datetime) -> None:
    """One batch per partition, then wait for every acknowledgement (acks=all).

    Partitioned by customer_id with Kafka's default (murmur2) partitioner, exactly as a direct producer
    keying by customer_id would, so one customer's events keep one order whichever way they come in.
    A send per event would make the client, not the broker, the bottleneck.
    """
    topic = ctx.settings.events_topic(mode)
    timestamp_ms = int(received_at.timestamp() * 1000)
    headers = [(REQUEST_ID_HEADER, (request_id.get() or "").encode()), GATEWAY_SOURCE]
    partitions = sorted(await ctx.producer.partitions_for(topic))
    builders: dict[int, BatchBuilder] = {}
    sends = []
    for event in events:
        key, value = event.customer_id.encode(), event_to_json(event)
        partition = partitions[_key_hash(key) % len(partitions)]
        builder = builders.setdefault(partition, ctx.producer.create_batch())
        if builder.append(key=key, value=value, timestamp=timestamp_ms, headers=headers) is None:
            sends.append(await ctx.producer.send_batch(builder, topic, partition=partition))
            builder = builders[partition] = ctx.producer.create_batch()
            builder.append(key=key, value=value, timestamp=timestamp_ms, headers=headers)
    for partition, builder in builders.items():
        sends.append(await ctx.producer.send_batch(builder, topic, partition=partition))
    await asyncio.gather(*sends)


@lru_cache(maxsize=65_536)
def _key_hash(key: bytes) -> int:
    """Kafka's default partitioner hash (aiokafka's DefaultPartitioner: murmur2, positive), remembered:
    it runs in Python, and one customer sends many events."""
    hashed: int = murmur2(key)
    return hashed & 0x7FFFFFFF

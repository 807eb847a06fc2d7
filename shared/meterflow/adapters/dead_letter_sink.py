"""The dead-letter topic: a record's original bytes and key, with where it came from and why, in headers.

`send` returns only once the broker acknowledged every letter (acks=all): the batch that produced them
is acked after that, so a dead letter is never lost; after a crash it may be sent twice, with the same
`source_topic`/`source_partition`/`source_offset` headers for a DLQ reader to deduplicate on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from meterflow.domain.records import DeadLetter
from meterflow.logs import REQUEST_ID_HEADER

MAX_REASON_BYTES = 2048  # a reason quotes an exception: bounded, so a letter always fits a message
log = logging.getLogger(__name__)


def letter_headers(letter: DeadLetter) -> list[tuple[str, bytes]]:
    record = letter.record
    headers = [("source_topic", record.topic.encode()), ("source_partition", str(record.partition).encode()),
               ("source_offset", str(record.offset).encode()), ("category", letter.category.value.encode()),
               ("reason", letter.reason.encode(errors="backslashreplace")[:MAX_REASON_BYTES])]
    if record.request_id:
        headers.append((REQUEST_ID_HEADER, record.request_id.encode(errors="backslashreplace")))
    return headers


class KafkaDeadLetterSink:
    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self._producer = producer
        self._topic = topic

    async def ping(self) -> object:
        return await self._producer.client.fetch_all_metadata()

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        sends = [await self._producer.send(self._topic, letter.record.value, key=letter.record.key,
                                           headers=letter_headers(letter)) for letter in letters]
        await asyncio.gather(*sends)
        for letter in letters:
            record = letter.record
            log.warning("dead-lettered %s[%d]@%d: %s", record.topic, record.partition, record.offset,
                        letter.reason, extra={"request_id": record.request_id})

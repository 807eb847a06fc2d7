"""Bad events written straight to Kafka go to the DLQ with their reason; the stream never stops."""

from __future__ import annotations

from decimal import Decimal

from aiokafka import AIOKafkaProducer

from meterflow.adapters.postgres import Pool
from meterflow.adapters.usage_store import UsageStore
from meterflow.domain.events import encode_json
from meterflow.domain.modes import Mode
from meterflow.settings import Settings
from testkit.figures import counted
from testkit.workload import Expected, open_books
from tests.faults.dead_letters import read_dead_letters
from tests.faults.support import wait_for_exact
from tests.support import ServiceProcess, eventually


async def test_poison_messages_are_dead_lettered_and_good_ones_still_count(
        isolated: Settings, pool: Pool, usage_store: UsageStore) -> None:
    books = await open_books(pool, customers=1)
    customer = books.customers[0]

    def good(key: str) -> bytes:
        return encode_json({"event_name": books.event_name, "customer_id": customer, "idempotency_key": key,
                            "properties": {"units": "2.5"}})

    bad = {
        b"\xff\x00 not json": "not JSON",
        b'{"event_name": "x", "customer_id": "' + customer.encode() + b'"}': "idempotency_key",
        encode_json({"event_name": "", "customer_id": customer, "idempotency_key": "k"}): "event_name",
        encode_json({"event_name": "x", "customer_id": "cus_nobody", "idempotency_key": "k2"}): "cus_nobody",
        b'[1, 2, 3]': "JSON object",
    }
    producer = AIOKafkaProducer(bootstrap_servers=isolated.kafka_servers, acks="all")
    await producer.start()
    try:
        topic = isolated.events_topic(Mode.TEST)
        await producer.send_and_wait(topic, good(f"{customer}-before"), key=customer.encode())
        positions: dict[bytes, tuple[int, int]] = {}
        for value in bad:
            sent = await producer.send_and_wait(topic, value, key=customer.encode())
            positions[value] = (sent.partition, sent.offset)
        await producer.send_and_wait(topic, good(f"{customer}-after"), key=customer.encode())
    finally:
        await producer.stop()

    with ServiceProcess.running("processor", isolated):
        await eventually(lambda: counted(usage_store, books), lambda c: c[0] >= 2, 60)
        letters = await read_dead_letters(isolated, len(bad))
        await wait_for_exact(usage_store, books, Expected(2, Decimal("5.0")), isolated)

    assert len(letters) == len(bad)
    for letter in letters:
        assert letter["source_topic"] == topic
        original = letter["value"]
        assert isinstance(original, bytes) and original in bad, letter
        # Each letter names the very record it stands for, so ops can find the original on the topic.
        assert (int(str(letter["source_partition"])), int(str(letter["source_offset"]))) == positions[original]
        assert bad[original] in str(letter["reason"]), letter

"""Faust's Kafka transport, with the consumer's fetch wait taken from settings.

Faust hard-codes `fetch_max_wait_ms=1500` for its worker consumer. A broker that holds a fetch for
the whole wait instead of answering when data arrives (the embedded Tansu does) turns that into up
to 1.5 s of ingest-to-usage latency. `MF_PROCESSOR_FETCH_MAX_WAIT_MS` bounds it; on Apache Kafka a
fetch returns as soon as data is there, so a short wait costs only a few more empty fetches.
"""

from __future__ import annotations

from typing import Any

import aiokafka
import faust
from faust.transport.drivers import aiokafka as faust_aiokafka


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka reads this when the consumer starts (its Fetcher is built in start()).
        app = self.app
        assert isinstance(app, ProcessorApp)
        consumer._fetch_max_wait_ms = app.fetch_max_wait_ms
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


class ProcessorApp(faust.App):
    """A Faust app whose consumer fetch wait is ours to set."""

    def __init__(self, *args: Any, fetch_max_wait_ms: int, **kwargs: Any) -> None:
        self.fetch_max_wait_ms = fetch_max_wait_ms
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> _Transport:
        return _Transport(self.conf.broker_consumer, self)

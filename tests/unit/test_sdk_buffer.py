"""The SDK's buffered ingest against a wire double: batches by size and by age, flushed on exit, a
transient failure retried until delivered, a final refusal reported with its events (never dropped
silently), memory bounded by the chosen overflow policy, and the on-disk spool across a restart (a kill -9
included) of the producer."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from meterflow_client import AsyncMeterflow, IngestFailed, IngestResult, Meterflow, RetryPolicy
from services.devstack.embedded import free_port

NO_WAIT = RetryPolicy(max_retries=0, initial_delay_s=0, max_delay_s=0)
Handler = Callable[[httpx.Request], httpx.Response]


class Gateway:
    """Answers ingest like the API (every event ingested) unless told to fail; records each batch."""

    def __init__(self, failures: list[httpx.Response | Exception] | None = None) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.failures = list(failures or [])
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        events = json.loads(request.content)["events"]
        with self.lock:
            if self.failures:
                failure = self.failures.pop(0)
                if isinstance(failure, Exception):
                    raise failure
                return failure
            self.batches.append(events)
        return httpx.Response(202, json={"ingested": [e["idempotency_key"] for e in events], "duplicates": [],
                                         "rejected": []})

    def keys(self) -> list[str]:
        return [e["idempotency_key"] for batch in self.batches for e in batch]


def client_on(handler: Handler) -> Meterflow:
    return Meterflow(api_key="sk", base_url="http://api.test", retry_policy=NO_WAIT,
                     http_client=httpx.Client(transport=httpx.MockTransport(handler)))


def event(n: int) -> dict[str, Any]:
    return {"event_name": "call", "customer_id": "cus_1", "idempotency_key": f"k{n}"}


def wait_until(condition: Callable[[], bool], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_full_batches_of_at_most_1000_and_the_rest_on_exit() -> None:
    gateway, results = Gateway(), list[IngestResult]()
    with client_on(gateway).events.buffer(flush_interval_s=60, on_result=results.append) as buffer:
        for n in range(2_500):
            assert buffer.add(event(n))
    assert sorted(len(b) for b in gateway.batches) == [500, 1_000, 1_000]
    assert sorted(gateway.keys()) == sorted(f"k{n}" for n in range(2_500))
    assert sum(len(r.ingested) for r in results) == 2_500 and all(isinstance(r, IngestResult) for r in results)


def test_a_lone_event_goes_once_the_interval_has_passed() -> None:
    gateway = Gateway()
    with client_on(gateway).events.buffer(flush_interval_s=0.05) as buffer:
        buffer.add(event(1))
        wait_until(lambda: gateway.keys() == ["k1"])


def test_an_event_without_a_key_gets_one_that_every_attempt_reuses() -> None:
    gateway = Gateway([httpx.ConnectError("down"), httpx.Response(503, headers={"Retry-After": "0"})])
    with client_on(gateway).events.buffer() as buffer:
        buffer.add({"event_name": "call", "customer_id": "cus_1"})
        buffer.flush()
    [key] = gateway.keys()
    assert len(key) == 36  # a UUID


def test_transient_failures_are_retried_beyond_the_client_limit_until_delivered() -> None:
    gateway = Gateway([httpx.ConnectError("down")] * 5)  # the client's own limit here is 0 retries
    with client_on(gateway).events.buffer() as buffer:
        for n in range(10):
            buffer.add(event(n))
    assert sorted(gateway.keys()) == sorted(f"k{n}" for n in range(10))


def test_a_final_refusal_goes_to_on_error_with_its_events() -> None:
    refusal = httpx.Response(400, json={"error": "1 invalid field", "type": "invalid_request_error",
                                        "param": "events[0].timestamp", "details": {"events[0].timestamp": "old"}})
    gateway, failures = Gateway([refusal]), list[IngestFailed]()
    with client_on(gateway).events.buffer(on_error=failures.append) as buffer:
        buffer.add(event(1))
    [failure] = failures
    assert [e["idempotency_key"] for e in failure.events] == ["k1"] and gateway.batches == []


def test_without_on_error_a_final_refusal_is_raised_by_flush() -> None:
    refusal = httpx.Response(401, json={"error": "no key", "type": "authentication_error", "param": None,
                                        "details": {}})
    buffer = client_on(Gateway([refusal])).events.buffer()
    buffer.add(event(1))
    with pytest.raises(IngestFailed) as raised:
        buffer.flush()
    assert [e["idempotency_key"] for e in raised.value.events] == ["k1"]
    buffer.close()


def test_a_close_that_runs_out_of_time_reports_what_it_could_not_deliver() -> None:
    gateway = Gateway([httpx.ConnectError("down")] * 10_000)
    buffer = client_on(gateway).events.buffer(close_timeout_s=0.2)
    for n in range(3):
        buffer.add(event(n))
    with pytest.raises(IngestFailed) as raised:
        buffer.close()
    assert sorted(e["idempotency_key"] for e in raised.value.events) == ["k0", "k1", "k2"]


def test_a_full_buffer_drops_only_when_told_to_and_says_so() -> None:
    release = threading.Event()

    def slow(request: httpx.Request) -> httpx.Response:
        release.wait(10)
        return Gateway()(request)

    with client_on(slow).events.buffer(max_batch=2, max_buffered=4, overflow="drop", concurrency=1) as buffer:
        accepted = [buffer.add(event(n)) for n in range(6)]
        assert accepted == [True] * 4 + [False] * 2 and buffer.dropped == 2
        release.set()


def test_a_full_blocking_buffer_waits_for_room() -> None:
    release, gateway = threading.Event(), Gateway()

    def slow(request: httpx.Request) -> httpx.Response:
        release.wait(10)
        return gateway(request)

    with client_on(slow).events.buffer(max_batch=2, max_buffered=2, concurrency=1) as buffer:
        buffer.add(event(0))
        buffer.add(event(1))
        third = threading.Thread(target=buffer.add, args=(event(2),))
        third.start()
        third.join(0.2)
        assert third.is_alive()  # blocked: the buffer is full until the batch in flight is answered
        release.set()
        third.join(10)
        assert not third.is_alive()
    assert sorted(gateway.keys()) == ["k0", "k1", "k2"]


async def test_the_async_buffer_batches_and_flushes_on_exit() -> None:
    gateway, results = Gateway([httpx.ConnectError("down")]), list[IngestResult]()
    client = AsyncMeterflow(api_key="sk", base_url="http://api.test", retry_policy=NO_WAIT,
                            http_client=httpx.AsyncClient(transport=httpx.MockTransport(gateway)))
    async with client, client.events.buffer(max_batch=100, flush_interval_s=60, on_result=results.append) as buffer:
        for n in range(250):
            assert await buffer.add(event(n))
    assert sorted(len(b) for b in gateway.batches) == [50, 100, 100]
    assert sorted(gateway.keys()) == sorted(f"k{n}" for n in range(250))
    assert sum(len(r.ingested) for r in results) == 250


def test_with_a_spool_the_events_undelivered_at_close_go_with_the_next_buffer(tmp_path: Path) -> None:
    down = Gateway([httpx.ConnectError("down")] * 10_000)
    buffer = client_on(down).events.buffer(spool_dir=tmp_path, close_timeout_s=0.2)
    for n in range(3):
        buffer.add(event(n))
    with pytest.raises(IngestFailed):
        buffer.close()
    gateway = Gateway()
    with client_on(gateway).events.buffer(spool_dir=tmp_path) as restarted:
        restarted.add(event(3))
    assert sorted(gateway.keys()) == ["k0", "k1", "k2", "k3"]
    assert list(tmp_path.glob("*.jsonl")) == []  # everything settled: no segment left


PRODUCER = textwrap.dedent("""
    import sys
    from meterflow_client import Meterflow

    buffer = Meterflow(api_key="sk", base_url=sys.argv[1]).events.buffer(spool_dir=sys.argv[2])
    for n in range(25):
        buffer.add({"event_name": "call", "customer_id": "cus_1", "idempotency_key": f"k{n}"})
    print("added", flush=True)
    sys.stdin.read()  # killed here
""")


def test_with_a_spool_a_producer_killed_9_loses_no_accepted_event(tmp_path: Path) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens: every batch waits to be retried
    with subprocess.Popen([sys.executable, "-c", PRODUCER, nobody, str(tmp_path)], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as producer:
        assert producer.stdout is not None and producer.stdout.readline().strip() == "added"
        producer.send_signal(signal.SIGKILL)
    gateway = Gateway()
    with client_on(gateway).events.buffer(spool_dir=tmp_path):
        pass
    assert sorted(gateway.keys()) == sorted(f"k{n}" for n in range(25))


def test_a_spool_line_cut_short_by_a_crash_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "000000000001.jsonl").write_bytes(json.dumps(event(1)).encode() + b'\n{"event_name": "ca')
    gateway = Gateway()
    with client_on(gateway).events.buffer(spool_dir=tmp_path):
        pass
    assert gateway.keys() == ["k1"]

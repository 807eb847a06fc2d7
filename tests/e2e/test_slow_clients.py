"""Slow and vanishing clients against a real gateway process (uvicorn, the deadlines of
services/gateway/server.py shrunk to a second or two): a request head or body that does not arrive in
time is closed within its bound, however slowly it trickles; an idle kept-alive connection is closed; and
a client that leaves mid-body is logged as a disconnect, never as an ERROR with a 500 nobody received.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from meterflow.settings import Settings
from services.devstack.embedded import free_port
from tests.support import ServiceProcess, eventually, unique

HEAD_S, BODY_S, KEEP_ALIVE_S = 1.0, 2.0, 1
SLACK_S = 2.0  # scheduling on a busy machine: the bound checked is the deadline plus this


@pytest.fixture(scope="module")
def slow_gateway(settings: Settings) -> Iterator[tuple[ServiceProcess, int]]:
    port = free_port()
    with ServiceProcess.running("gateway", settings, api_port=port, http_head_timeout_s=HEAD_S,
                                http_body_timeout_s=BODY_S, http_keep_alive_s=KEEP_ALIVE_S) as service:
        yield service, port


async def closed_after(port: int, *chunks: bytes, pause_s: float = 0.0, limit_s: float) -> tuple[bytes, float]:
    """Send `chunks` (`pause_s` apart, a slow client) while reading until the server closes the connection;
    what it sent back and how long after connecting it closed. Fails if it is still open after `limit_s`."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    received = bytearray()

    async def until_closed() -> float:
        try:
            while data := await reader.read(65_536):
                received.extend(data)
        except ConnectionError:  # reset by the server: closed all the same
            pass
        return time.monotonic() - started

    closing = asyncio.ensure_future(asyncio.wait_for(until_closed(), limit_s))
    try:
        for chunk in chunks:
            if closing.done():
                break
            writer.write(chunk)
            await asyncio.sleep(pause_s)  # pacing the client under test, not waiting for a condition
        took = await closing
        return bytes(received), took
    finally:
        writer.close()


def head(method: str, path: str, key: str, **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: meterflow", f"Authorization: Bearer {key}",
             *(f"{name.replace('_', '-')}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def test_a_head_never_finished_is_answered_408_and_closed_within_its_bound(
        slow_gateway: tuple[ServiceProcess, int]) -> None:
    _, port = slow_gateway
    answer, took = await closed_after(port, b"POST /v1/ingest HTTP/1.1\r\nHost: meterflow\r\n",
                                      limit_s=HEAD_S + SLACK_S)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert took >= HEAD_S * 0.9, took
    silent, took = await closed_after(port, limit_s=HEAD_S + SLACK_S)  # connects, sends nothing: closed
    assert silent == b"" and took >= HEAD_S * 0.9, (silent, took)


async def test_a_head_trickled_a_byte_at_a_time_does_not_extend_its_deadline(
        slow_gateway: tuple[ServiceProcess, int]) -> None:
    _, port = slow_gateway
    trickle = [bytes([byte]) for byte in b"GET /healthz HTTP/1.1\r\nHost: meterflow\r\nX-Slow: yes"]
    answer, took = await closed_after(port, *trickle, pause_s=0.1, limit_s=HEAD_S + SLACK_S)
    assert answer.startswith(b"HTTP/1.1 408 ") and took < HEAD_S + SLACK_S, (answer, took)


async def test_a_body_never_finished_is_closed_within_its_bound_and_logged_as_a_disconnect(
        slow_gateway: tuple[ServiceProcess, int], test_key: str) -> None:
    service, port = slow_gateway
    request_id = unique("half-body")
    started = head("POST", "/v1/ingest", test_key, Content_Type="application/json", Content_Length="1000",
                   X_Request_Id=request_id) + b'{"events": ['
    answer, took = await closed_after(port, started, limit_s=BODY_S + SLACK_S)
    assert answer == b"" and took >= BODY_S * 0.9, (answer, took)
    line = await _logged(service, request_id)
    assert line["message"] == "client disconnected before its request was read", line


async def test_many_half_sent_requests_are_all_closed_within_the_bound(
        slow_gateway: tuple[ServiceProcess, int], test_key: str) -> None:
    _, port = slow_gateway
    half_head = b"POST /v1/ingest HTTP/1.1\r\nHost: meterflow\r\n"
    half_body = head("POST", "/v1/ingest", test_key, Content_Length="5000") + b'{"events": ['
    runs = [closed_after(port, half_head if n % 2 else half_body, limit_s=BODY_S + 2 * SLACK_S) for n in range(200)]
    closed = await asyncio.gather(*runs)
    assert len(closed) == 200 and max(took for _, took in closed) < BODY_S + 2 * SLACK_S


async def test_an_idle_kept_alive_connection_is_closed_after_the_keep_alive_time(
        slow_gateway: tuple[ServiceProcess, int]) -> None:
    _, port = slow_gateway
    answer, took = await closed_after(port, b"GET /healthz HTTP/1.1\r\nHost: meterflow\r\n\r\n",
                                      limit_s=KEEP_ALIVE_S + SLACK_S)
    assert answer.startswith(b"HTTP/1.1 200 ") and b'"ok"' in answer, answer
    assert took >= KEEP_ALIVE_S * 0.9, took


async def test_a_client_gone_mid_body_is_a_disconnect_in_logs_and_metrics_not_a_500(
        slow_gateway: tuple[ServiceProcess, int], test_key: str) -> None:
    service, port = slow_gateway
    before = await _metrics(port)
    request_ids = [unique("gone"), unique("gone")]
    for path, request_id in zip(("/v1/ingest", "/v1/customers"), request_ids, strict=True):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head("POST", path, test_key, Content_Length="1000", X_Request_Id=request_id,
                          Idempotency_Key=unique("idem")) + b'{"na')
        await writer.drain()
        writer.close()  # the client leaves mid-body
        await writer.wait_closed()
    for request_id in request_ids:
        line = await _logged(service, request_id)
        assert line["level"] == "INFO" and "status" not in line, line
        assert line["message"] == "client disconnected before its request was read", line
    after = await _metrics(port)
    gone = "meterflow_http_client_disconnects_total"
    assert after.get(gone, 0) - before.get(gone, 0) == 2, (before, after)
    server_errors = 'meterflow_http_responses_total{status_class="5xx"}'
    assert after.get(server_errors, 0) == before.get(server_errors, 0) == 0, after
    assert "Traceback" not in service.log() and '"level": "ERROR"' not in service.log(), service.log()[-3000:]


async def _logged(service: ServiceProcess, request_id: str) -> dict[str, Any]:
    """The gateway's one log line for `request_id`, once it is written."""
    async def lines() -> list[dict[str, Any]]:
        found = [json.loads(text) for text in service.log().splitlines() if request_id in text]
        return [line for line in found if line.get("request_id") == request_id]

    [line] = await eventually(lines, lambda found: len(found) > 0, 10)
    return line


async def _metrics(port: int) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        text = (await client.get("/metrics")).text
    return {name: float(value) for name, _, value in (line.rpartition(" ") for line in text.splitlines())
            if name and not name.startswith("#")}

"""How the gateway serves HTTP: uvicorn's options, and deadlines for reading a request.

A client that opens connections and sends a request slowly, or never finishes it, must not hold the
gateway's connections and memory: 5,000 half-sent requests were once held for as long as their senders
liked, and unfinished headers need no API key. uvicorn bounds the size of a request head
(`h11_max_incomplete_event_size`) and how long a kept-alive connection may sit idle
(`timeout_keep_alive`), but not how long a head or a body may take to arrive. `DeadlineH11Protocol`
adds both deadlines to uvicorn's own HTTP/1.1 protocol:

- a request head (request line and headers) must be complete within `http_head_timeout_s` of its first
  byte, or of the connection for its first request (a connection that sends nothing is closed too);
- its body must be complete within `http_body_timeout_s` of the end of the head.

A deadline is armed once per stage and never moved, so a client trickling a byte a second cannot extend
it. When it passes the connection is closed: a client part-way through its head is answered 408 first; a
body cut short reaches the app as the client's disconnect (request_ids.py logs it as such).

The event loop is uvloop's: every ingest request moves its body in, a Kafka produce request and Redis
pipelines out, and libuv's loop and transports cost the gateway ~2 µs less CPU per ingested event than
asyncio's (docs/gateway-throughput.md).
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Any, Literal

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from meterflow.observability import HTTP_SLOW_CLIENTS_CLOSED
from meterflow.settings import Settings

log = logging.getLogger(__name__)
Stage = Literal["head", "body"]
_TIMED_OUT_BODY = b"The request was not received in time.\n"
_TIMED_OUT = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
              b"content-length: %d\r\n\r\n%s" % (len(_TIMED_OUT_BODY), _TIMED_OUT_BODY))


class DeadlineH11Protocol(H11Protocol):
    def __init__(self, *args: Any, head_timeout_s: float, body_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timeouts: dict[Stage, float] = {"head": head_timeout_s, "body": body_timeout_s}
        self._stage: Stage | None = None
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._enter("head")  # the first request's head is due from the moment the connection opens

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._enter(self._reading())

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may start a pipelined request already received
        self._enter(self._reading())

    def connection_lost(self, exc: Exception | None) -> None:
        self._enter(None)
        super().connection_lost(exc)

    def _reading(self) -> Stage | None:
        """What the connection is waiting for from the client: part of a head is buffered, or the body
        of a request whose head arrived; None while a request is being answered or the connection idles
        between requests (uvicorn's keep-alive timeout bounds that)."""
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            return "body"
        if state is h11.IDLE and self.conn.trailing_data[0]:
            return "head"
        return None

    def _enter(self, stage: Stage | None) -> None:
        if stage == self._stage:
            return
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._stage = stage
        if stage is not None:
            self._deadline = self.loop.call_later(self._timeouts[stage], self._expire, stage)

    def _expire(self, stage: Stage) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        HTTP_SLOW_CLIENTS_CLOSED.labels(stage).inc()
        client = f"{self.client[0]}:{self.client[1]}" if self.client else None
        log.info("closed a slow client", extra={"stage": stage, "timeout_s": self._timeouts[stage], "client": client})
        # A client part-way through a head is told why; a connection that never sent a byte is only
        # closed (a client's pool may hold it unused, and would read a 408 as its next request's answer).
        if stage == "head" and self.conn.our_state is h11.IDLE and self.conn.trailing_data[0]:
            self.transport.write(_TIMED_OUT)
        self.transport.close()


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Every server setting of the gateway, for `uvicorn.run` (one worker or several)."""
    protocol = partial(DeadlineH11Protocol, head_timeout_s=settings.http_head_timeout_s,
                       body_timeout_s=settings.http_body_timeout_s)
    return {"host": settings.api_host, "port": settings.api_port, "log_level": settings.log_level.lower(),
            "access_log": False, "log_config": None, "http": protocol, "loop": "uvloop",
            "timeout_keep_alive": settings.http_keep_alive_s,
            "h11_max_incomplete_event_size": settings.http_max_head_bytes}

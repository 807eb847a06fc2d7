"""Sending one logical call: the attempts, their waits and the reading of the answer.

A logical call is built once (`Request`), with its Idempotency-Key when it changes state, and every
attempt sends exactly those bytes with that key: the API then executes it once however many attempts
reach it. What to do after an attempt is decided by one function (`_after`) shared by the sync and async
senders, which only differ in how they send and sleep.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from meterflow_client import _wire
from meterflow_client.errors import APIConnectionError, APITimeoutError, MeterflowError, error_body, status_error
from meterflow_client.retries import IDEMPOTENCY_HEADER, RetryPolicy, retryable_status

VERSION = "0.1.0"
_KEYED_METHODS = frozenset({"POST", "PUT", "PATCH"})
# No answer, for a reason that may pass: a connection refused, dropped or timed out. Not a request this
# client cannot make (an unsupported scheme, an invalid header), which would fail the same way again.
_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError)


@dataclass(frozen=True)
class Request:
    """One logical call, as sent on every attempt."""

    method: str
    path: str
    params: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    idempotency_key: str | None = None

    @classmethod
    def build(cls, method: str, path: str, params: Mapping[str, str] | None = None, body: Any = None,
              idempotency_key: str | None = None) -> Request:
        """A state-changing call gets a fresh key unless the caller gave one (ingest's events carry theirs,
        but a key on the batch is harmless: the API ignores it there)."""
        key = idempotency_key or (str(uuid.uuid4()) if method in _KEYED_METHODS else None)
        return cls(method, path, params or {}, body, key)


@dataclass(frozen=True)
class _Retry:
    delay_s: float


@dataclass(frozen=True)
class _Done:
    value: Any = None
    error: MeterflowError | None = None

    def result(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


def _headers(api_key: str, request: Request) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json",
               "User-Agent": f"meterflow-client/{VERSION} python"}
    if request.body is not None:
        headers["Content-Type"] = "application/json"
    if request.idempotency_key is not None:
        headers[IDEMPOTENCY_HEADER] = request.idempotency_key
    return headers


class _Sender:
    """What both senders share: building the wire request and judging each attempt."""

    def __init__(self, base_url: str, api_key: str, policy: RetryPolicy,
                 jitter: Callable[[], float] | None = None) -> None:
        self.base_url, self.api_key, self.policy = base_url.rstrip("/"), api_key, policy
        self._jitter = jitter

    def _wire_request(self, client: httpx.Client | httpx.AsyncClient, request: Request) -> httpx.Request:
        content = None if request.body is None else _wire.encode(request.body)
        return client.build_request(request.method, self.base_url + request.path, params=dict(request.params),
                                    content=content, headers=_headers(self.api_key, request))

    def _delay(self, retries_done: int, retry_after: str | None) -> float:
        if self._jitter is None:
            return self.policy.delay_s(retries_done, retry_after)
        return self.policy.delay_s(retries_done, retry_after, self._jitter)

    def _after(self, retries_done: int, outcome: httpx.Response | httpx.TransportError) -> _Retry | _Done:
        if isinstance(outcome, httpx.TransportError):
            kind = APITimeoutError if isinstance(outcome, httpx.TimeoutException) else APIConnectionError
            error: MeterflowError = kind(f"no answer from the API: {type(outcome).__name__}: {outcome}")
            retry_after = None
            retryable = isinstance(outcome, _TRANSIENT)
        else:
            decoded = _decoded(outcome)
            if outcome.is_success:
                return _Done(decoded)
            error = status_error(outcome, decoded)
            retry_after = outcome.headers.get("retry-after")
            retryable = retryable_status(outcome.status_code, error_body(outcome, decoded))
        if retryable and self.policy.allows(retries_done):
            return _Retry(self._delay(retries_done, retry_after))
        return _Done(error=error)


def _decoded(response: httpx.Response) -> Any:
    try:
        return _wire.decode(response.content)
    except ValueError:
        return None  # not JSON (a proxy's error page): judged by its status


class SyncSender(_Sender):
    def __init__(self, client: httpx.Client, base_url: str, api_key: str, policy: RetryPolicy,
                 jitter: Callable[[], float] | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(base_url, api_key, policy, jitter)
        self.client, self._sleep = client, sleep

    def send(self, request: Request) -> Any:
        wire_request = self._wire_request(self.client, request)
        retries_done = 0
        while True:
            try:
                step = self._after(retries_done, self.client.send(wire_request))
            except httpx.TransportError as exc:
                step = self._after(retries_done, exc)
            if isinstance(step, _Done):
                return step.result()
            self._sleep(step.delay_s)
            retries_done += 1


class AsyncSender(_Sender):
    def __init__(self, client: httpx.AsyncClient, base_url: str, api_key: str, policy: RetryPolicy,
                 jitter: Callable[[], float] | None = None) -> None:
        super().__init__(base_url, api_key, policy, jitter)
        self.client = client

    async def send(self, request: Request) -> Any:
        wire_request = self._wire_request(self.client, request)
        retries_done = 0
        while True:
            try:
                step = self._after(retries_done, await self.client.send(wire_request))
            except httpx.TransportError as exc:
                step = self._after(retries_done, exc)
            if isinstance(step, _Done):
                return step.result()
            await asyncio.sleep(step.delay_s)
            retries_done += 1

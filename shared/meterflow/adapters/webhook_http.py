"""The webhook sender (httpx) and the DNS resolver behind the `Resolver` port.

The sender follows no redirect (a 3xx is a failed attempt, never a hop to a URL nobody checked), stops
waiting after the timeout, and reads at most `MAX_RESPONSE_BYTES` of an answer: a receiver cannot make
the worker hold a large body or wait on a slow one. It never raises: a failure is a result.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping

import httpx

from meterflow.domain.webhooks import MAX_RESPONSE_BYTES, succeeded

RESOLVE_TIMEOUT_S = 5.0


class HttpSender:
    def __init__(self, timeout_s: float, max_connections: int = 100) -> None:
        self._client = httpx.AsyncClient(follow_redirects=False, timeout=httpx.Timeout(timeout_s),
                                         limits=httpx.Limits(max_connections=max_connections), trust_env=False)
        self._timeout_s = timeout_s

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int | None, str | None]:
        try:
            # The whole exchange, answer included, within the timeout (httpx's applies per read).
            return await asyncio.wait_for(self._post(url, body, headers), self._timeout_s)
        except TimeoutError:
            return None, f"no answer within {self._timeout_s:g}s"
        except (httpx.HTTPError, OSError, ValueError) as exc:
            return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

    async def _post(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int | None, str | None]:
        async with self._client.stream("POST", url, content=body, headers=dict(headers)) as response:
            head = b""  # read (a small answer wholly, so the connection can be reused), never beyond the limit
            async for chunk in response.aiter_raw():
                head += chunk
                if len(head) >= MAX_RESPONSE_BYTES:
                    break
            if succeeded(response.status_code):
                return response.status_code, None
            text = head[:MAX_RESPONSE_BYTES].decode("utf-8", "replace").strip()
            return response.status_code, f"HTTP {response.status_code}" + (f": {text}" if text else "")

    async def aclose(self) -> None:
        await self._client.aclose()


class DnsResolver:
    async def addresses(self, host: str) -> list[str]:
        try:
            infos = await asyncio.wait_for(
                asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_S)
        except (OSError, UnicodeError, ValueError, TimeoutError):
            return []
        return sorted({str(info[4][0]) for info in infos})

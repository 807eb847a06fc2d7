"""The webhook sender (aiohttp) and the DNS resolver behind the `Resolver` port.

The sender follows no redirect (a 3xx is a failed attempt, never a hop to a URL nobody checked), stops
waiting after the timeout, and reads at most `MAX_RESPONSE_BYTES` of an answer: a receiver cannot make
the worker hold a large body or wait on a slow one. It never raises: a failure is a result.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping

import aiohttp

from meterflow.domain.webhooks import MAX_RESPONSE_BYTES, succeeded

RESOLVE_TIMEOUT_S = 5.0


class HttpSender:
    """One aiohttp session for the worker's life (connections kept alive per receiver); built inside the
    running event loop."""

    def __init__(self, timeout_s: float, max_connections: int = 100) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._timeout_s = timeout_s
        self._session = aiohttp.ClientSession(timeout=self._timeout, trust_env=False, auto_decompress=False,
                                              connector=aiohttp.TCPConnector(limit=max_connections))

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int | None, str | None]:
        try:
            async with self._session.post(url, data=body, headers=dict(headers), allow_redirects=False) as answer:
                # Read at most the limit (a small answer wholly, so the connection can be reused).
                head = await answer.content.read(MAX_RESPONSE_BYTES)
                if succeeded(answer.status):
                    return answer.status, None
                text = head.decode("utf-8", "replace").strip()
                return answer.status, f"HTTP {answer.status}" + (f": {text}" if text else "")
        except TimeoutError:
            return None, f"no answer within {self._timeout_s:g}s"
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

    async def aclose(self) -> None:
        await self._session.close()


class DnsResolver:
    async def addresses(self, host: str) -> list[str]:
        try:
            infos = await asyncio.wait_for(
                asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_S)
        except (OSError, UnicodeError, ValueError, TimeoutError):
            return []
        return sorted({str(info[4][0]) for info in infos})

"""The webhook sender (aiohttp) and the DNS resolver behind the `Resolver` port.

The sender follows no redirect (a 3xx is a failed attempt, never a hop to a URL nobody checked), stops
waiting after the timeout, and reads at most `MAX_RESPONSE_BYTES` of an answer: a receiver cannot make
the worker hold a large body or wait on a slow one. It never raises: a failure is a result.

A delivery that must reach only public addresses (live mode) goes through a session whose resolver drops
every address that is not globally routable unicast (domain/addresses.py) at connect time: the address
connected to is one that passed the rule at that very moment, so a DNS answer that changes between the
check before sending and the connection (DNS rebinding) cannot point the worker into the operator's
network. aiohttp asks no resolver for a host written as an IP address, so such a host is checked here
before connecting.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Mapping
from ipaddress import ip_address
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from meterflow.domain.addresses import public_address
from meterflow.domain.webhooks import MAX_RESPONSE_BYTES, succeeded

RESOLVE_TIMEOUT_S = 5.0


class PublicOnlyResolver(AbstractResolver):
    """aiohttp's resolver keeping only the addresses live mode may call."""

    def __init__(self) -> None:
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        kept = [found for found in await self._inner.resolve(host, port, family)
                if public_address(found["host"])]
        if not kept:
            # aiohttp shows an OSError's strerror in the error it raises: the attempt's log says why.
            raise OSError(errno.EHOSTUNREACH, f"{host} resolves to no public (globally routable unicast) address")
        return kept

    async def close(self) -> None:
        await self._inner.close()


def literal_refusal(url: str) -> str | None:
    """Why a URL whose host is an IP address may not be called in public-only mode, or None (a name is
    left to the resolver)."""
    host = urlsplit(url).hostname or ""
    try:
        ip_address(host)
    except ValueError:
        return None
    return None if public_address(host) else f"{host} is no public (globally routable unicast) address"


class HttpSender:
    """Two aiohttp sessions for the worker's life (connections kept alive per receiver): one for any
    address, one for public addresses only; built inside the running event loop."""

    def __init__(self, timeout_s: float, max_connections: int = 100) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._timeout_s = timeout_s
        self._any, self._public = (
            aiohttp.ClientSession(timeout=self._timeout, trust_env=False, auto_decompress=False,
                                  connector=aiohttp.TCPConnector(limit=max_connections, resolver=resolver))
            for resolver in (None, PublicOnlyResolver()))

    async def post(self, url: str, body: bytes, headers: Mapping[str, str],
                   public_only: bool) -> tuple[int | None, str | None]:
        session = self._public if public_only else self._any
        refusal = literal_refusal(url) if public_only else None
        if refusal:
            return None, refusal
        try:
            async with session.post(url, data=body, headers=dict(headers), allow_redirects=False) as answer:
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
        await self._any.close()
        await self._public.close()


class DnsResolver:
    async def addresses(self, host: str) -> list[str]:
        try:
            infos = await asyncio.wait_for(
                asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_S)
        except (OSError, UnicodeError, ValueError, TimeoutError):
            return []
        return sorted({str(info[4][0]) for info in infos})

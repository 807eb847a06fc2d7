"""A real HTTP receiver in the test process (aiohttp on 127.0.0.1, an ephemeral port), for the webhook
tests: it keeps every request's exact bytes and headers, and answers each path with a scripted sequence
of statuses (the last one repeated), optionally after a delay."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Received:
    path: str
    body: bytes
    headers: dict[str, str]

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    received: list[Received] = field(default_factory=list)
    scripts: dict[str, list[int]] = field(default_factory=dict)
    delay_s: float = 0.0
    delays: dict[str, float] = field(default_factory=dict)  # by path, instead of `delay_s`
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, path: str, *statuses: int) -> None:
        self.scripts[path] = list(statuses)

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append(Received(request.path, body, dict(request.headers)))
        delay = self.delays.get(request.path, self.delay_s)
        if delay:
            await asyncio.sleep(delay)
        script = self.scripts.get(request.path, [200])
        status = script.pop(0) if len(script) > 1 else script[0]
        return web.Response(status=status, text="ok" if status < 300 else "receiver says no")


@asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", receiver._handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiver.port = runner.addresses[0][1]
    try:
        yield receiver
    finally:
        await runner.cleanup()


def verify(received: Received, secret: str) -> bool:
    """Both signatures, computed here independently of meterflow's code."""
    body = received.body
    monigo = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    parts = dict(item.split("=", 1) for item in received.headers["Meterflow-Signature"].split(","))
    timed = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(received.headers["X-Monigo-Signature"], monigo) and hmac.compare_digest(
        parts["v1"], timed)

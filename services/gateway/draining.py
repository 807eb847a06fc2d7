"""Drain mode: how the gateway refuses new writes while `meterflow run` stops, without dropping any.

The supervisor sends SIGUSR1 first. From then on every request that would change something answers 503
with `Retry-After` (a producer keeps its batch and retries against the next run), `/readyz` says
"draining", and requests already past this point finish normally: a 202 is still only sent once the
broker acknowledged (or, with the spool on, once it is on disk: docs/spool.md). Reads keep working until
the gateway is told to stop (SIGTERM).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

from fastapi import Request, Response

from services.gateway.errors import ErrorType, error_response

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class DrainSwitch:
    def __init__(self) -> None:
        self.draining = False

    def install(self) -> None:
        """Listen for SIGUSR1 on the running loop (called from the app's lifespan)."""
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, self.start)

    def start(self) -> None:
        self.draining = True

    async def refuse_writes(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if self.draining and request.method in WRITES:
            return error_response(503, ErrorType.API, "meterflow is stopping; retry against the next run", None)
        return await call_next(request)

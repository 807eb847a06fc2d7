"""Work that stops when its client goes: a usage or draft call may fold an edge hour from the events
on record, and nobody is left to read the answer of a client that disconnected (docs/usage-edges.md).

The route's work runs beside a watch on the connection; whichever ends first wins. When the client has
gone, the work is cancelled (a recount it started stops unless another caller still waits for it) and
`ClientGone` is raised: nothing can be sent any more, so it is logged and counted as a disconnect
(`request_ids.py`), never as an error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from fastapi import Request

T = TypeVar("T")


class ClientGone(Exception):
    """The client disconnected before its answer; the work for it was stopped."""


async def _disconnected(request: Request) -> None:
    """Returns once the client has gone (the request's body, if any, was already read by the route)."""
    while (await request.receive())["type"] != "http.disconnect":
        continue


async def unless_client_goes(request: Request, work: Coroutine[Any, Any, T]) -> T:
    task = asyncio.ensure_future(work)
    watch = asyncio.ensure_future(_disconnected(request))
    try:
        done, _ = await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        task.cancel()
        watch.cancel()
        raise
    watch.cancel()
    if task in done:
        return task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    raise ClientGone

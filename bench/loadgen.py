"""Load comes from a separate process (spawned, so it shares no event loop, GIL or client with the
measuring process or the services): its CPU is the machine's, not the service's."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


async def in_load_process(fn: Callable[..., T], *args: Any) -> T:
    """Run the module-level `fn(*args)` in a fresh process and return what it returns."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

"""Run a batched step so that one bad item cannot fail the others (issue #10; docs/billing.md, "Invoices and
period close").

The step runs on the whole batch first, so the good case keeps its one catalog read, one Redis round trip
and one `executemany`. Only when it raises is the batch split in halves and each half run again, down to
the single items that fail: k poison items among n cost about 2·k·log2(n) extra runs, not n. An error
that says a dependency is unreachable is not the items' fault: it is raised at once, never split.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

IsTransient = Callable[[BaseException], bool]


@dataclass
class Isolated(Generic[T, R]):
    done: list[tuple[T, R]] = field(default_factory=list)
    failed: list[tuple[T, Exception]] = field(default_factory=list)


async def in_isolation(items: Sequence[T], step: Callable[[Sequence[T]], Awaitable[Sequence[R]]],
                       is_transient: IsTransient) -> Isolated[T, R]:
    """`step` maps a batch to one result per item, in order; it must leave nothing behind when it raises
    (run writes inside a savepoint)."""
    outcome: Isolated[T, R] = Isolated()
    if not items:
        return outcome
    try:
        outcome.done = list(zip(items, await step(items), strict=True))
        return outcome
    except Exception as error:
        if is_transient(error):
            raise
        if len(items) == 1:
            outcome.failed = [(items[0], error)]
            return outcome
    middle = len(items) // 2
    for half in (items[:middle], items[middle:]):
        part = await in_isolation(half, step, is_transient)
        outcome.done += part.done
        outcome.failed += part.failed
    return outcome

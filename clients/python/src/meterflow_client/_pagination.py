"""Walking a list: `for c in client.customers.list()` (or `async for`) fetches page after page with
`starting_after` = the last item's cursor field, until the API says `has_more: false`.

Each page is one GET with the client's retries; an item is yielded as soon as its page has arrived, so a
loop that stops early fetches no further page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from meterflow_client._transport import AsyncSender, Request, SyncSender

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Cursor(Generic[M]):
    """A list operation's fixed parameters and items: `field` names the item's attribute that the next
    page starts after (`id`, or `idempotency_key` for events)."""

    model: type[M]
    params: Mapping[str, str] = field(default_factory=dict)
    path: Mapping[str, str] = field(default_factory=dict)
    field: str = "id"


@dataclass(frozen=True)
class Page(Generic[M]):
    items: list[M]
    next_request: Request | None


def _page(cursor: Cursor[M], route: str, items_key: str, answer: Any) -> Page[M]:
    items = [cursor.model.model_validate(item) for item in answer[items_key]]
    if not answer.get("has_more") or not items:
        return Page(items, None)
    after = str(getattr(items[-1], cursor.field))
    return Page(items, Request.build("GET", route, {**cursor.params, "starting_after": after}))


class SyncPager(Generic[M]):
    def __init__(self, sender: SyncSender, route: str, items_key: str, cursor: Cursor[M]) -> None:
        self._sender, self._route, self._items_key, self._cursor = sender, route, items_key, cursor

    def __iter__(self) -> Iterator[M]:
        request: Request | None = Request.build("GET", self._route, self._cursor.params)
        while request is not None:
            page = _page(self._cursor, self._route, self._items_key, self._sender.send(request))
            yield from page.items
            request = page.next_request

    def to_list(self) -> list[M]:
        return list(self)


class AsyncPager(Generic[M]):
    def __init__(self, sender: AsyncSender, route: str, items_key: str, cursor: Cursor[M]) -> None:
        self._sender, self._route, self._items_key, self._cursor = sender, route, items_key, cursor

    async def __aiter__(self) -> AsyncIterator[M]:
        request: Request | None = Request.build("GET", self._route, self._cursor.params)
        while request is not None:
            page = _page(self._cursor, self._route, self._items_key, await self._sender.send(request))
            for item in page.items:
                yield item
            request = page.next_request

    async def to_list(self) -> list[M]:
        return [item async for item in self]

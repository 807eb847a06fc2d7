"""Each API operation is written once and serves both clients.

A resource method is declared as a function that turns typed parameters into a `Call` (path values,
query, body, how to read the answer), under the route it calls:

    @operation("POST", "/v1/invoices/{invoice_id}/finalize")
    def finalize(invoice_id: str) -> Call[Invoice]:
        return Call(one("invoice", Invoice), path={"invoice_id": invoice_id})

On `Meterflow` the method returns the `Invoice`; on `AsyncMeterflow` an awaitable of it (the descriptor
looks at the resource's sender). The route is data, so a test can compare every operation with the API's
OpenAPI document. A list operation (`@paged`) returns a pager that walks `starting_after` pages.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, TypeVar, overload

from pydantic import BaseModel

from meterflow_client._pagination import AsyncPager, Cursor, SyncPager
from meterflow_client._transport import AsyncSender, Request, SyncSender

P = ParamSpec("P")
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
S = TypeVar("S", SyncSender, AsyncSender)


class Resource(Generic[S]):
    """A group of operations (`client.customers`), bound to the client's sender."""

    def __init__(self, sender: S) -> None:
        self._sender: S = sender


@dataclass(frozen=True)
class Call(Generic[T]):
    """What one operation sends, and how its answer becomes a typed value."""

    decode: Callable[[Any], T]
    path: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    idempotency_key: str | None = None


def one(name: str, model: type[M]) -> Callable[[Any], M]:
    """An answer that wraps its object under its singular name: `{"customer": {...}}`."""
    return lambda answer: model.model_validate(answer[name])


def whole(model: type[M]) -> Callable[[Any], M]:
    return model.model_validate


class Operation(Generic[P, T]):
    def __init__(self, method: str, route: str, build: Callable[P, Call[T]]) -> None:
        self.method, self.route, self.build = method, route, build

    def request(self, call: Call[T]) -> Request:
        return Request.build(self.method, self.route.format_map(call.path), call.params, call.body,
                             call.idempotency_key)

    @overload
    def __get__(self, resource: None, owner: type[Any]) -> Operation[P, T]: ...
    @overload
    def __get__(self, resource: Resource[SyncSender], owner: type[Any]) -> Callable[P, T]: ...
    @overload
    def __get__(self, resource: Resource[AsyncSender], owner: type[Any]) -> Callable[P, Awaitable[T]]: ...

    def __get__(self, resource: Resource[Any] | None, owner: type[Any]) -> Any:
        if resource is None:
            return self
        sender = resource._sender

        def sync_call(*args: P.args, **kwargs: P.kwargs) -> T:
            call = self.build(*args, **kwargs)
            return call.decode(sender.send(self.request(call)))

        async def async_call(*args: P.args, **kwargs: P.kwargs) -> T:
            call = self.build(*args, **kwargs)
            return call.decode(await sender.send(self.request(call)))

        return sync_call if isinstance(sender, SyncSender) else async_call


def operation(method: str, route: str) -> Callable[[Callable[P, Call[T]]], Operation[P, T]]:
    return lambda build: Operation(method, route, build)


class PagedOperation(Generic[P, M]):
    """`GET` of a collection: `{"<items>": [...], "has_more": bool}`, paged with `starting_after`."""

    def __init__(self, route: str, items: str, build: Callable[P, Cursor[M]]) -> None:
        self.method, self.route, self.items, self.build = "GET", route, items, build

    @overload
    def __get__(self, resource: None, owner: type[Any]) -> PagedOperation[P, M]: ...
    @overload
    def __get__(self, resource: Resource[SyncSender], owner: type[Any]) -> Callable[P, SyncPager[M]]: ...
    @overload
    def __get__(self, resource: Resource[AsyncSender], owner: type[Any]) -> Callable[P, AsyncPager[M]]: ...

    def __get__(self, resource: Resource[Any] | None, owner: type[Any]) -> Any:
        if resource is None:
            return self
        sender = resource._sender

        def pager(*args: P.args, **kwargs: P.kwargs) -> SyncPager[M] | AsyncPager[M]:
            cursor = self.build(*args, **kwargs)
            route = self.route.format_map(cursor.path)
            if isinstance(sender, SyncSender):
                return SyncPager(sender, route, self.items, cursor)
            return AsyncPager(sender, route, self.items, cursor)

        return pager


def paged(route: str, items: str) -> Callable[[Callable[P, Cursor[M]]], PagedOperation[P, M]]:
    return lambda build: PagedOperation(route, items, build)

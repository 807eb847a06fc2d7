"""The one mapping from failures to HTTP, in-process (no server): each category's status, 503 with
Retry-After for a dependency away, and a bug answered 500 without its trace but with the request id."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from redis.exceptions import ConnectionError as RedisConnectionError

from meterflow.domain.errors import Conflict, FieldError, NotFound, Unavailable
from services.gateway.errors import install_error_handlers
from services.gateway.request_ids import with_request_id


def app_raising(error: Exception) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.middleware("http")(with_request_id)

    @app.get("/fail")
    async def fail() -> None:
        raise error

    return app


@pytest.mark.parametrize(("error", "status", "param"), [
    (FieldError("prices[0].tiers", "must ascend"), 400, "prices[0].tiers"),
    (NotFound("customer", "cus_x", "customer_id"), 404, "customer_id"),
    (Conflict("finalized", "id"), 409, "id"),
    (Unavailable("the broker is away"), 503, None),
    (ConnectionRefusedError(), 503, None),
    (asyncpg.CannotConnectNowError(), 503, None),
    # A pooled connection of a Postgres session killed mid-operation (met under the chaos test): not a 500.
    (asyncpg.InternalClientError("cannot switch to state 12; another operation (2) is in progress"), 503, None),
    (RedisConnectionError(), 503, None),
    (RuntimeError("a bug"), 500, None),
])
async def test_each_failure_has_one_status_and_every_answer_its_request_id(error: Exception, status: int,
                                                                          param: str | None) -> None:
    transport = httpx.ASGITransport(app=app_raising(error), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        response = await client.get("/fail", headers={"X-Request-Id": "req-1"})
    assert response.status_code == status
    body = response.json()
    assert body["param"] == param and isinstance(body["error"], str) and body["type"]
    assert (status == 400) == bool(body["details"]) and (status != 400 or param in body["details"])
    assert response.headers["x-request-id"] == "req-1"
    assert "Traceback" not in response.text and "a bug" not in response.text
    assert ("retry-after" in response.headers) == (status == 503)

"""`Idempotency-Key` (docs/api.md): a retry gets the first answer and changes nothing, another request under
the same key is a 400, and concurrent retries never both execute (the database decides)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx

from tests.e2e.input_answers import refused
from tests.e2e.scenario import billing_setup, listed, the
from tests.support import unique


def keyed(key: str | None = None) -> dict[str, str]:
    return {"Idempotency-Key": key or str(uuid.uuid4())}


async def test_a_sequential_retry_replays_the_first_answer_and_creates_nothing(api: httpx.AsyncClient) -> None:
    headers, body = keyed(), {"external_id": unique("ext"), "name": "Acme"}
    first = await api.post("/v1/customers", json=body, headers=headers)
    again = await api.post("/v1/customers", json=body, headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    # Without the key, the same body is a new request: the external_id is taken (409 naming it).
    refused(await api.post("/v1/customers", json=body), "external_id", 409)


async def test_the_same_key_for_another_request_is_a_400_naming_the_header(api: httpx.AsyncClient) -> None:
    headers = keyed()
    assert (await api.post("/v1/customers", json={"external_id": unique("e"), "name": "A"},
                           headers=headers)).status_code == 201
    other = await api.post("/v1/customers", json={"external_id": unique("e"), "name": "B"}, headers=headers)
    assert other.status_code == 400, other.text
    error = other.json()
    assert (error["type"], error["param"]) == ("idempotency_error", "Idempotency-Key")
    assert "Idempotency-Key" in error["details"]


async def test_concurrent_retries_of_a_subscription_create_execute_once(api: httpx.AsyncClient) -> None:
    setup = await billing_setup(api)
    plan = the(await api.post("/v1/plans", json={"name": "second", "prices": [
        {"metric_id": setup.metric_id, "model": "per_unit", "unit_price": "1"}]}), "plan", 201)
    await api.delete(f"/v1/subscriptions/{setup.subscription_id}")  # frees the metric for the new plan
    body: dict[str, Any] = {"customer_id": setup.customer_id, "plan_id": plan["id"]}
    headers = keyed()
    answers = await asyncio.gather(*(api.post("/v1/subscriptions", json=body, headers=headers) for _ in range(20)))
    assert set(Counter(a.status_code for a in answers)) <= {201, 409}, [a.text for a in answers]
    created = {the(a, "subscription", 201)["id"] for a in answers if a.status_code == 201}
    assert len(created) == 1
    subscriptions = listed(await api.get("/v1/subscriptions", params={"customer_id": setup.customer_id,
                                                                     "status": "active"}), "subscriptions")
    assert [s["id"] for s in subscriptions] == list(created)
    replay = await api.post("/v1/subscriptions", json=body, headers=headers)
    assert the(replay, "subscription", 201)["id"] in created and replay.headers["idempotent-replayed"] == "true"


async def test_ingest_ignores_the_header_and_bodiless_posts_replay(api: httpx.AsyncClient) -> None:
    setup = await billing_setup(api)
    draft = the(await api.post("/v1/invoices/generate", json={"subscription_id": setup.subscription_id},
                               headers=keyed()), "invoice", 201)
    headers = keyed()
    finalized = await api.post(f"/v1/invoices/{draft['id']}/finalize", headers=headers)
    again = await api.post(f"/v1/invoices/{draft['id']}/finalize", headers=headers)
    assert again.content == finalized.content and again.headers["idempotent-replayed"] == "true"
    event = {"event_name": setup.event_name, "customer_id": setup.customer_id, "idempotency_key": unique("k")}
    ingest_key = keyed()
    first = await api.post("/v1/ingest", json={"events": [event]}, headers=ingest_key)
    second = await api.post("/v1/ingest", json={"events": [event]}, headers=ingest_key)
    assert "idempotent-replayed" not in second.headers
    assert (first.json()["ingested"], second.json()["duplicates"]) == ([event["idempotency_key"]],) * 2


async def test_a_body_past_the_limit_is_413_with_a_key_too_never_buffered_whole(api: httpx.AsyncClient) -> None:
    """The key's fingerprint reads the body within the routes' limit: a declared or a streamed body past it
    is refused, as it is without a key, instead of being held in memory whatever its size."""
    headers = {"Idempotency-Key": unique("big")}
    declared = await api.post("/v1/customers", content=b"x" * (1 << 20), headers=headers)
    assert (declared.status_code, declared.json()["param"]) == (413, "body"), declared.text

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield b" " * 65_536

    streamed = await api.post("/v1/customers", content=chunks(), headers={"Idempotency-Key": unique("big")})
    assert (streamed.status_code, streamed.json()["param"]) == (413, "body"), streamed.text
    small = await api.post("/v1/customers", json={"external_id": unique("e"), "name": "Kept"}, headers=headers)
    assert small.status_code == 201, small.text  # the key was never claimed by the refused body

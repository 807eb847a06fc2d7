"""Drafts through the API under races and odd usage: never a 500 (issue #10 items 5 and 6)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

import httpx

from tests.e2e.scenario import billing_setup, event, ingest, listed, the, usage_reaches


async def test_a_hundred_concurrent_first_drafts_all_get_the_same_draft(api: httpx.AsyncClient) -> None:
    setup = await billing_setup(api)
    body = {"subscription_id": setup.subscription_id}
    responses = await asyncio.gather(*(api.post("/v1/invoices/generate", json=body) for _ in range(100)))
    assert Counter(r.status_code for r in responses) == Counter({201: 100}), [
        r.text for r in responses if r.status_code != 201][:3]
    assert len({the(r, "invoice", 201)["id"] for r in responses}) == 1
    invoices = listed(await api.get("/v1/invoices", params={"customer_id": setup.customer_id}), "invoices")
    assert [(i["id"], i["status"]) for i in invoices] == [(the(responses[0], "invoice", 201)["id"], "draft")]


async def test_a_negative_sum_is_shown_on_the_draft_and_billed_as_zero(api: httpx.AsyncClient) -> None:
    setup = await billing_setup(api, aggregation="sum", prop="v")
    now = datetime.now(UTC).isoformat()
    await ingest(api, [event(setup, timestamp=now, properties={"v": "3"}),
                       event(setup, timestamp=now, properties={"v": "-8"})])
    await usage_reaches(api, setup, "-5")
    response = await api.post("/v1/invoices/generate", json={"subscription_id": setup.subscription_id})
    draft = the(response, "invoice", 201)
    assert [(li["quantity"], li["amount"]) for li in draft["line_items"]] == [("-5", "0.00")]
    assert draft["total"] == "0.00"

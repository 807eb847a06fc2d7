"""The quickstart billing loop through HTTP, and that retries and reused keys never change the total."""

from __future__ import annotations

import httpx

from tests.e2e.scenario import billing_setup, event, ingest, listed, the, usage, usage_reaches


async def test_quickstart_two_calls_at_two_naira_invoice_four_naira(api: httpx.AsyncClient) -> None:
    setup = await billing_setup(api)
    batch = [event(setup, properties={"endpoint": "/v1/predict", "method": "POST"}), event(setup)]

    answer = await ingest(api, batch)
    assert answer == {"ingested": [e["idempotency_key"] for e in batch], "duplicates": [], "rejected": []}
    await usage_reaches(api, setup, "2")

    response = await api.post("/v1/invoices/generate", json={"subscription_id": setup.subscription_id})
    invoice = the(response, "invoice", 201)
    assert invoice["status"] == "draft"
    assert invoice["currency"] == "NGN"
    assert invoice["total"] == "4.00"
    assert invoice["subtotal"] == "4.00"
    [line] = invoice["line_items"]
    assert (line["quantity"], line["unit_price"], line["amount"]) == ("2", "2.000000", "4.00")


async def test_resent_batch_and_reused_key_change_nothing(api: httpx.AsyncClient) -> None:
    setup = await billing_setup(api)
    batch = [event(setup), event(setup)]
    await ingest(api, batch)
    await usage_reaches(api, setup, "2")

    again = await ingest(api, batch)
    assert sorted(again["duplicates"]) == sorted(e["idempotency_key"] for e in batch)
    assert again["ingested"] == []
    reused = event(setup, key=batch[0]["idempotency_key"], properties={"different": "body"})
    await ingest(api, [reused])
    # A marker after the retries, on the same partition (same customer): once it is counted, every
    # retry before it has been judged too.
    await ingest(api, [event(setup)])
    await usage_reaches(api, setup, "3")
    assert (await usage(api, setup))["event_count"] == 3

    invoice = the(await api.post("/v1/invoices/generate", json={"subscription_id": setup.subscription_id}),
                  "invoice", 201)
    assert invoice["total"] == "6.00"


async def test_generating_again_refreshes_the_same_draft(api: httpx.AsyncClient) -> None:
    setup = await billing_setup(api)
    first = the(await api.post("/v1/invoices/generate", json={"subscription_id": setup.subscription_id}),
                "invoice", 201)
    assert first["total"] == "0.00"
    await ingest(api, [event(setup)])
    await usage_reaches(api, setup, "1")
    second = the(await api.post("/v1/invoices/generate", json={"subscription_id": setup.subscription_id}),
                 "invoice", 201)
    assert second["id"] == first["id"]
    assert second["total"] == "2.00"


async def test_finalized_invoice_is_locked_and_void_frees_the_period(api: httpx.AsyncClient) -> None:
    setup = await billing_setup(api)
    await ingest(api, [event(setup)])
    await usage_reaches(api, setup, "1")
    draft = the(await api.post("/v1/invoices/generate", json={"subscription_id": setup.subscription_id}),
                "invoice", 201)

    finalized = the(await api.post(f"/v1/invoices/{draft['id']}/finalize"), "invoice")
    assert finalized["status"] == "finalized"
    assert finalized["finalized_at"] is not None
    await ingest(api, [event(setup)])
    await usage_reaches(api, setup, "2")
    assert (await api.post(f"/v1/invoices/{draft['id']}/regenerate")).status_code == 409
    assert (await api.post("/v1/invoices/generate", json={"subscription_id": setup.subscription_id})).status_code == 409
    assert the(await api.get(f"/v1/invoices/{draft['id']}"), "invoice")["total"] == "2.00"

    voided = the(await api.post(f"/v1/invoices/{draft['id']}/void"), "invoice")
    assert voided["status"] == "void"
    fresh = the(await api.post("/v1/invoices/generate", json={"subscription_id": setup.subscription_id}),
                "invoice", 201)
    assert fresh["id"] != draft["id"]
    assert fresh["total"] == "4.00"
    invoices = listed(await api.get("/v1/invoices", params={"customer_id": setup.customer_id}), "invoices")
    assert {i["status"] for i in invoices} == {"void", "draft"}

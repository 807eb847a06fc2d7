"""Keys authenticate, and a key sees only its own mode's objects."""

from __future__ import annotations

import httpx
import pytest

from meterflow.settings import Settings
from tests.e2e.scenario import billing_setup, listed, the


@pytest.mark.parametrize("header", [None, "Bearer mk_test_not_a_real_key", "Bearer mk_live_x", "Basic abc", "Bearer"])
async def test_missing_or_unknown_key_is_401(api: httpx.AsyncClient, settings: Settings, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    async with httpx.AsyncClient(base_url=str(api.base_url), headers=headers) as anonymous:
        response = await anonymous.get("/v1/customers")
    assert response.status_code == 401
    assert response.json()["type"] == "authentication_error"
    assert isinstance(response.json()["error"], str)


async def test_live_key_sees_nothing_of_test_mode(api: httpx.AsyncClient, live_key: str) -> None:
    setup = await billing_setup(api)
    draft = the(await api.post("/v1/invoices/generate", json={"subscription_id": setup.subscription_id}),
                "invoice", 201)
    async with httpx.AsyncClient(base_url=str(api.base_url),
                                 headers={"Authorization": f"Bearer {live_key}"}) as live:
        for path in (f"/v1/customers/{setup.customer_id}", f"/v1/metrics/{setup.metric_id}",
                     f"/v1/plans/{setup.plan_id}", f"/v1/subscriptions/{setup.subscription_id}",
                     f"/v1/invoices/{draft['id']}"):
            response = await live.get(path)
            assert response.status_code == 404, path
            assert response.json()["type"] == "not_found_error"
        generate = await live.post("/v1/invoices/generate", json={"subscription_id": setup.subscription_id})
        assert generate.status_code == 404
        assert (await live.post(f"/v1/invoices/{draft['id']}/void")).status_code == 404
        customers = listed(await live.get("/v1/customers", params={"limit": 1000}), "customers")
        assert setup.customer_id not in {c["id"] for c in customers}
        ingest = await live.post("/v1/ingest", json={"events": [{
            "event_name": setup.event_name, "customer_id": setup.customer_id, "idempotency_key": "k1"}]})
        assert ingest.status_code == 400
        assert list(ingest.json()["details"]) == ["events[0].customer_id"]
        plan = await live.post("/v1/plans", json={"name": "p", "currency": "NGN", "billing_period": "monthly",
                                                  "prices": [{"metric_id": setup.metric_id, "model": "flat",
                                                              "unit_price": "1"}]})
        assert plan.status_code == 400
        assert plan.json()["param"] == "prices[0].metric_id" and "prices[0].metric_id" in plan.json()["details"]
    assert (await api.post(f"/v1/invoices/{draft['id']}/void")).status_code == 200

"""How the API refuses (issue #10 item 6): auth before the body, 404 for a foreign page cursor, 405 with
Allow, and every error answer carrying X-Request-Id and the error body naming its field."""

from __future__ import annotations

import httpx

from meterflow.settings import Settings
from tests.e2e.input_answers import refused
from tests.e2e.scenario import billing_setup, created
from tests.support import unique


async def test_a_missing_or_unknown_key_is_401_before_the_body_is_read(api: httpx.AsyncClient,
                                                                      settings: Settings) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.api_port}") as anonymous:
        for headers in ({}, {"Authorization": "Bearer mk_test_unknown"}):
            for body in (b"{not json", b"[" * 300, b"x" * (2 << 20)):
                refused(await anonymous.post("/v1/customers", content=body, headers=headers), "Authorization", 401)
            refused(await anonymous.get("/v1/customers/cus_%00", headers=headers), "Authorization", 401)


async def test_starting_after_an_unknown_or_other_mode_id_is_404(api: httpx.AsyncClient,
                                                                settings: Settings, live_key: str) -> None:
    setup = await billing_setup(api)
    refused(await api.get("/v1/customers", params={"starting_after": "cus_unknown"}), "starting_after", 404)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.api_port}",
                                 headers={"Authorization": f"Bearer {live_key}"}) as live:
        refused(await live.get("/v1/customers", params={"starting_after": setup.customer_id}), "starting_after",
                404)
    page = await api.get("/v1/customers", params={"starting_after": setup.customer_id, "limit": 1})
    assert page.status_code == 200


async def test_405_names_the_allowed_methods(api: httpx.AsyncClient) -> None:
    response = await api.delete("/v1/customers")
    refused(response, "method", 405)
    assert set(response.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


async def test_a_metric_reading_a_property_must_name_it(api: httpx.AsyncClient) -> None:
    refused(await api.post("/v1/metrics", json={"name": "M", "event_name": "e", "aggregation": "sum"}),
            "aggregation_property")
    count = await created(await api.post("/v1/metrics", json={
        "name": "M", "event_name": unique("e"), "aggregation": "count", "aggregation_property": "ignored"}))
    assert count["aggregation_property"] is None


async def test_the_openapi_schema_documents_the_error_answers(api: httpx.AsyncClient) -> None:
    schema = (await api.get("/openapi.json")).json()
    ingest = schema["paths"]["/v1/ingest"]["post"]
    assert "requestBody" in ingest
    assert {"400", "401", "413", "503"} <= set(ingest["responses"])
    assert "422" not in str(schema["paths"])
    assert {"404", "409"} <= set(schema["paths"]["/v1/invoices/{invoice_id}/finalize"]["post"]["responses"])


async def test_head_on_a_get_route_answers_as_get_without_a_body(api: httpx.AsyncClient) -> None:
    made = await created(await api.post("/v1/customers", json={"external_id": unique("e"), "name": "Head"}))
    for path in (f"/v1/customers/{made['id']}", "/v1/customers", "/healthz", "/openapi.json"):
        got, head = await api.get(path), await api.head(path)
        assert (head.status_code, head.content) == (got.status_code, b""), (path, head.text)
        assert head.headers["content-length"] == got.headers["content-length"] and head.headers["x-request-id"]
    assert (await api.head("/v1/customers/cus_nope")).status_code == 404
    assert (await api.head("/v1/customers", headers={"Authorization": "Bearer mk_test_nope"})).status_code == 401
    not_a_read = await api.head("/v1/ingest")
    assert (not_a_read.status_code, not_a_read.headers["allow"]) == (405, "POST")
    assert set((await api.delete("/v1/usage")).headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}


async def test_a_price_without_a_metric_says_the_metric_is_required(api: httpx.AsyncClient) -> None:
    error = refused(await api.post("/v1/plans", json={"name": "P", "prices": [{"model": "flat", "unit_price": "1"}]}),
                    "prices[0].metric_id")
    assert error["details"]["prices[0].metric_id"] == "is required", error
    wrong = refused(await api.post("/v1/plans", json={"name": "P", "prices": [
        {"metric_id": 7, "model": "flat", "unit_price": "1"}]}), "prices[0].metric_id")
    assert "None" not in wrong["error"] and "string" in wrong["error"], wrong

"""Portal tokens over HTTP, as Monigo's `PortalTokens` client calls them and decodes the answers (create
by the customer's external id, list by customer, revoke), and what a token opens: one customer's portal in
one mode, refused at once when revoked or expired, nothing of another customer by guessing ids."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from meterflow.settings import Settings
from tests.e2e.monigo_wire import ERROR, PORTAL_TOKEN, check, check_list
from tests.e2e.scenario import Setup, billing_setup, created
from tests.support import eventually, unique

# What the Go client sends on every request, and an Idempotency-Key on every POST (docs/monigo.md).
HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


def _post_headers() -> dict[str, str]:
    return {**HEADERS, "Idempotency-Key": str(uuid.uuid4())}


async def _customer(api: httpx.AsyncClient, name: str = "Ada") -> dict[str, Any]:
    return await created(await api.post("/v1/customers", json={"external_id": unique("ext"), "name": name}))


async def issued(api: httpx.AsyncClient, external_id: str, **fields: Any) -> dict[str, Any]:
    body = {"customer_external_id": external_id, **fields}
    made: dict[str, Any] = check(await api.post("/v1/portal/tokens", json=body, headers=_post_headers()), "token",
                                 PORTAL_TOKEN, 201)
    return made


async def test_the_go_clients_calls_in_order(api: httpx.AsyncClient, settings: Settings) -> None:
    customer = await _customer(api)
    expires = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    made = await issued(api, customer["external_id"], label="Billing page", expires_at=expires.isoformat())
    assert re.fullmatch(r"[0-9a-f]{64}", made["token"]), made
    assert made["portal_url"] == f"http://127.0.0.1:{settings.api_port}/portal/{made['token']}"
    assert (made["customer_id"], made["label"], made["revoked_at"]) == (customer["id"], "Billing page", None)
    assert datetime.fromisoformat(made["expires_at"]) == expires

    for reference in (customer["id"], customer["external_id"]):  # a UUID or an external_id, as Monigo allows
        listed = check_list(await api.get("/v1/portal/tokens", params={"customer_id": reference}, headers=HEADERS),
                            "tokens", PORTAL_TOKEN)
        assert [t["id"] for t in listed] == [made["id"]]
        assert listed[0]["token"] == "" and listed[0]["portal_url"] == ""  # only its hash is kept

    revoked = await api.delete(f"/v1/portal/tokens/{made['id']}", headers=HEADERS)
    assert revoked.status_code == 200, revoked.text
    again = await api.delete(f"/v1/portal/tokens/{made['id']}", headers=HEADERS)
    assert again.json()["token"]["revoked_at"] == revoked.json()["token"]["revoked_at"]
    [listed_after] = check_list(await api.get("/v1/portal/tokens", params={"customer_id": customer["id"]}),
                                "tokens", PORTAL_TOKEN)
    assert listed_after["revoked_at"] is not None


async def test_what_a_token_is_refused_for(api: httpx.AsyncClient) -> None:
    unknown = await api.post("/v1/portal/tokens", json={"customer_external_id": unique("nobody")})
    assert check(unknown, None, ERROR, 404)["param"] == "customer_external_id"
    customer = await _customer(api)
    past = await api.post("/v1/portal/tokens", json={"customer_external_id": customer["external_id"],
                                                      "expires_at": "2020-01-01T00:00:00Z"})
    assert "expires_at" in check(past, None, ERROR, 400)["details"]
    missing = await api.post("/v1/portal/tokens", json={"label": "x"})
    assert "customer_external_id" in check(missing, None, ERROR, 400)["details"]
    assert (await api.delete("/v1/portal/tokens/ptk_nothing")).status_code == 404


async def test_a_token_of_one_mode_is_not_seen_from_the_other(api: httpx.AsyncClient, live_key: str) -> None:
    customer = await _customer(api)
    made = await issued(api, customer["external_id"])
    live = {"Authorization": f"Bearer {live_key}"}
    assert (await api.delete(f"/v1/portal/tokens/{made['id']}", headers=live)).status_code == 404
    assert (await api.get("/v1/portal/tokens", params={"customer_id": customer["id"]},
                          headers=live)).status_code == 404  # the customer is not of the live mode
    every_live = (await api.get("/v1/portal/tokens", headers=live)).json()["tokens"]
    assert made["id"] not in {t["id"] for t in every_live}


async def test_a_revoked_or_expired_token_is_refused_at_once(api: httpx.AsyncClient) -> None:
    customer = await _customer(api, "Grace")
    made = await issued(api, customer["external_id"])
    opened = await api.get(f"/portal/{made['token']}", headers={"Authorization": ""})
    assert opened.status_code == 200 and "Grace" in opened.text
    assert (await api.delete(f"/v1/portal/tokens/{made['id']}")).status_code == 200
    assert (await api.get(f"/portal/{made['token']}")).status_code == 401  # no cache in between

    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    short = await issued(api, customer["external_id"], expires_at=soon)
    await eventually(lambda: api.get(f"/portal/{short['token']}"), lambda r: r.status_code == 401, timeout_s=10)
    for guess in ("0" * 64, "not-a-token", short["token"].upper()):
        assert (await api.get(f"/portal/{guess}")).status_code == 401


async def test_a_token_opens_its_customers_invoices_only(api: httpx.AsyncClient) -> None:
    """A's link cannot show B's invoice: B's invoice id under A's token is the same 404 as an id that does
    not exist."""
    a, b = await billing_setup(api), await billing_setup(api)
    invoices = {}
    for setup in (a, b):
        draft = await api.post("/v1/invoices/generate", json={"subscription_id": setup.subscription_id})
        invoices[setup.customer_id] = (await created(draft))["id"]
    token_a = (await issued(api, await _external_id(api, a)))["token"]
    own = await api.get(f"/portal/{token_a}/invoices/{invoices[a.customer_id]}")
    assert own.status_code == 200 and invoices[a.customer_id] in own.text
    assert (await api.get(f"/portal/{token_a}/invoices/{invoices[b.customer_id]}")).status_code == 404
    assert (await api.get(f"/portal/{token_a}/invoices/inv_guessed")).status_code == 404
    page = await api.get(f"/portal/{token_a}")
    assert invoices[a.customer_id] in page.text and invoices[b.customer_id] not in page.text
    assert "x-frame-options" not in page.headers  # embeddable
    assert "frame-ancestors" not in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"  # the token never leaves in a Referer


async def _external_id(api: httpx.AsyncClient, setup: Setup) -> str:
    customer: str = (await api.get(f"/v1/customers/{setup.customer_id}")).json()["customer"]["external_id"]
    return customer

"""Payout accounts over HTTP, as Monigo's `PayoutAccounts` client calls them and decodes the answers:
create, list, get, update, delete; what each method needs; one default per customer and currency."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.monigo_wire import PAYOUT_ACCOUNT, check
from tests.e2e.scenario import created
from tests.support import unique


def bank(**fields: Any) -> dict[str, Any]:
    return {"account_name": "Ada Lovelace", "payout_method": "bank_transfer", "bank_name": "GTBank",
            "bank_code": "058", "account_number": "0123456789", "currency": "NGN", **fields}


async def test_the_go_clients_calls_in_order(api: httpx.AsyncClient) -> None:
    customer = await created(await api.post("/v1/customers", json={"external_id": unique("ext"), "name": "Ada"}))
    base = f"/v1/customers/{customer['id']}/payout-accounts"
    first = check(await api.post(base, json=bank()), "payout_account", PAYOUT_ACCOUNT, 201)
    assert first["is_default"] is True  # the first account in a currency is the default
    momo = check(await api.post(base, json={"account_name": "Ada", "payout_method": "mobile_money",
                                            "mobile_money_number": "+2348012345678", "currency": "NGN",
                                            "is_default": True}), "payout_account", PAYOUT_ACCOUNT, 201)
    listing = (await api.get(base)).json()
    assert listing["count"] == 2
    defaults = {a["id"]: a["is_default"] for a in listing["payout_accounts"]}
    assert defaults == {first["id"]: False, momo["id"]: True}
    renamed = check(await api.put(f"{base}/{first['id']}", json={"account_name": "Ada L.", "bank_code": "999"}),
                    "payout_account", PAYOUT_ACCOUNT)
    assert (renamed["account_name"], renamed["bank_code"], renamed["is_default"]) == ("Ada L.", "058", False)
    assert check(await api.get(f"{base}/{first['id']}"), "payout_account", PAYOUT_ACCOUNT)["id"] == first["id"]
    assert (await api.delete(f"{base}/{first['id']}")).status_code == 200
    assert (await api.get(f"{base}/{first['id']}")).status_code == 404
    by_external = (await api.get(f"/v1/customers/{customer['external_id']}/payout-accounts")).json()
    assert [a["id"] for a in by_external["payout_accounts"]] == [momo["id"]]


async def test_each_method_needs_its_destination(api: httpx.AsyncClient) -> None:
    customer = await created(await api.post("/v1/customers", json={"external_id": unique("ext"), "name": "Ada"}))
    base = f"/v1/customers/{customer['id']}/payout-accounts"
    for body, param in ((bank(bank_code=""), "bank_code"), (bank(account_number=""), "account_number"),
                        ({"account_name": "A", "payout_method": "mobile_money", "mobile_money_number": "0801"},
                         "mobile_money_number"), (bank(payout_method="cheque"), "payout_method"),
                        (bank(currency="XYZ"), "currency")):
        refused = await api.post(base, json=body)
        assert refused.status_code == 400 and param in refused.json()["details"], refused.text
    assert (await api.post("/v1/customers/cus_missing/payout-accounts", json=bank())).status_code == 404

"""Wallets over HTTP on the real stack, in the shapes Monigo's Go client decodes (tests/e2e/monigo_wire.py):
get-or-create, credit twice under one idempotency key, 409 on overspend, 50 parallel debits that never
overspend, bad input named by field, another mode's wallet unseen, virtual accounts as documented; and a
finalized invoice paid from the wallet first."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import pytest

from meterflow.adapters.postgres import Pool
from meterflow.settings import Settings
from tests.e2e.monigo_wire import LEDGER_ENTRY, TRANSACTIONS, WALLET, WALLET_OPERATION, check, check_list
from tests.e2e.scenario import billing_setup, created, event, ingest, the, usage_reaches
from tests.support import unique


async def new_wallet(api: httpx.AsyncClient, currency: str = "NGN") -> dict[str, Any]:
    customer = await created(await api.post("/v1/customers", json={"external_id": unique("ext"), "name": "Acme"}))
    wallet: dict[str, Any] = check(await api.post("/v1/wallets", json={"customer_id": customer["id"],
                                                                        "currency": currency}), "wallet", WALLET, 201)
    return wallet


def go_body(amount: str, key: str = "", entry_type: str = "", currency: str = "") -> dict[str, str]:
    """Every field, as the Go client sends them (empty when the caller set none)."""
    return {"amount": amount, "currency": currency, "description": "top-up", "entry_type": entry_type,
            "reference_type": "", "reference_id": "", "idempotency_key": key}


async def test_each_wallet_call_answers_the_shape_the_go_client_decodes(api: httpx.AsyncClient) -> None:
    wallet = await new_wallet(api)
    assert (wallet["balance"], wallet["reserved_balance"], wallet["currency"]) == ("0.00", "0.00", "NGN")
    again = check(await api.post("/v1/wallets", json={"customer_id": wallet["customer_id"], "currency": "NGN"}),
                  "wallet", WALLET)
    assert again["id"] == wallet["id"]
    moved = check(await api.post(f"/v1/wallets/{wallet['id']}/credit", json=go_body("250.50")), None,
                  WALLET_OPERATION)
    mine, org = moved["ledger_entries"]
    assert moved["wallet"]["balance"] == "250.50"
    assert (mine["wallet_id"], mine["direction"], mine["entry_type"], mine["balance_before"],
            mine["balance_after"]) == (wallet["id"], "credit", "deposit", "0.00", "250.50")
    assert (org["account_type"], org["direction"], org["amount"]) == ("organisation", "debit", "250.50")
    got = await api.get(f"/v1/wallets/{wallet['id']}")
    assert check(got, "wallet", WALLET)["balance"] == "250.50" and got.json()["virtual_accounts"] == []
    for path in ("/v1/wallets", f"/v1/wallets?customer_id={wallet['customer_id']}",
                 f"/v1/customers/{wallet['customer_id']}/wallets"):
        assert wallet["id"] in [w["id"] for w in check_list(await api.get(path), "wallets", WALLET)]
    listing = check(await api.get(f"/v1/wallets/{wallet['id']}/transactions?limit=10"), None, TRANSACTIONS)
    assert (listing["total"], listing["limit"], listing["offset"]) == (1, 10, 0)
    assert check(await api.get(f"/v1/wallets/{wallet['id']}/transactions"), "transactions",
                 [LEDGER_ENTRY])[0]["id"] == mine["id"]


async def test_one_idempotency_key_credits_once_and_answers_the_same_transaction(api: httpx.AsyncClient) -> None:
    wallet = await new_wallet(api)
    body = go_body("1000.00", unique("topup"))
    first = check(await api.post(f"/v1/wallets/{wallet['id']}/credit", json=body), None, WALLET_OPERATION)
    second = check(await api.post(f"/v1/wallets/{wallet['id']}/credit", json=body), None, WALLET_OPERATION)
    assert second["wallet"]["balance"] == "1000.00" and second["ledger_entries"] == first["ledger_entries"]
    assert (await api.get(f"/v1/wallets/{wallet['id']}/transactions")).json()["total"] == 1
    reused = await api.post(f"/v1/wallets/{wallet['id']}/credit", json={**body, "amount": "1.00"})
    assert reused.status_code == 409 and reused.json()["param"] == "idempotency_key"


async def test_a_debit_beyond_the_balance_is_a_409_naming_the_balance(api: httpx.AsyncClient) -> None:
    wallet = await new_wallet(api, "USD")
    await api.post(f"/v1/wallets/{wallet['id']}/credit", json=go_body("10.00"))
    refused = await api.post(f"/v1/wallets/{wallet['id']}/debit", json=go_body("10.01", entry_type="usage"))
    assert refused.status_code == 409 and "10.00 USD available" in refused.json()["error"], refused.text
    assert check(await api.get(f"/v1/wallets/{wallet['id']}"), "wallet", WALLET)["balance"] == "10.00"


async def test_fifty_parallel_debits_never_overspend(api: httpx.AsyncClient) -> None:
    """A wallet of 30.00 and 50 debits of 1.00 at once: exactly 30 succeed, 20 are refused, balance 0.00."""
    wallet = await new_wallet(api)
    await api.post(f"/v1/wallets/{wallet['id']}/credit", json=go_body("30.00"))
    answers = await asyncio.gather(*(api.post(f"/v1/wallets/{wallet['id']}/debit", json=go_body("1.00"))
                                     for _ in range(50)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] * 30 + [409] * 20, codes
    after = sorted(Decimal(a.json()["ledger_entries"][0]["balance_after"]) for a in answers if a.status_code == 200)
    assert after == [Decimal(n) for n in range(30)]  # each debit saw the balance the one before it left
    assert check(await api.get(f"/v1/wallets/{wallet['id']}"), "wallet", WALLET)["balance"] == "0.00"


@pytest.mark.parametrize(("body", "param"), [
    (go_body("1.005"), "amount"), (go_body("-5.00"), "amount"), (go_body("ten"), "amount"),
    ({"amount": 5}, "amount"), (go_body("1.00", currency="USD"), "currency"),
    (go_body("1.00", entry_type="usage"), "entry_type"),
])
async def test_bad_movements_are_400s_naming_the_field(api: httpx.AsyncClient, body: dict[str, Any],
                                                       param: str) -> None:
    wallet = await new_wallet(api)
    refused = await api.post(f"/v1/wallets/{wallet['id']}/credit", json=body)
    assert refused.status_code == 400 and param in refused.json()["details"], refused.text


async def test_unknown_currency_and_customer_and_another_modes_wallet(api: httpx.AsyncClient, settings: Settings,
                                                                      live_key: str) -> None:
    wallet = await new_wallet(api)
    bad = await api.post("/v1/wallets", json={"customer_id": wallet["customer_id"], "currency": "XYZ"})
    assert bad.status_code == 400 and "currency" in bad.json()["details"]
    assert (await api.post("/v1/wallets", json={"customer_id": unique("cus"), "currency": "NGN"})).status_code == 404
    live = {"Authorization": f"Bearer {live_key}"}
    for answer in (await api.get(f"/v1/wallets/{wallet['id']}", headers=live),
                   await api.post(f"/v1/wallets/{wallet['id']}/credit", json=go_body("1.00"), headers=live)):
        assert answer.status_code == 404, answer.text


async def test_virtual_accounts_are_not_offered(api: httpx.AsyncClient) -> None:
    wallet = await new_wallet(api)
    made = await api.post(f"/v1/wallets/{wallet['id']}/virtual-accounts", json={"provider": "paystack",
                                                                               "currency": "NGN"})
    assert made.status_code == 400 and "provider" in made.json()["details"]
    assert (await api.get(f"/v1/wallets/{wallet['id']}/virtual-accounts")).json() == {"virtual_accounts": [],
                                                                                       "count": 0}
    assert (await api.get("/v1/wallets/wal_missing/virtual-accounts")).status_code == 404


async def test_finalizing_pays_from_the_wallet_first_once_and_the_ledger_balances(api: httpx.AsyncClient,
                                                                                   pool: Pool) -> None:
    """Credit 1,000.00, usage of 700.00 (350 events at 2.00), finalize: wallet 300.00, invoice paid."""
    setup = await billing_setup(api)
    wallet = check(await api.post("/v1/wallets", json={"customer_id": setup.customer_id, "currency": "NGN"}),
                   "wallet", WALLET, 201)
    await api.post(f"/v1/wallets/{wallet['id']}/credit", json=go_body("1000.00", unique("topup")))
    await ingest(api, [event(setup) for _ in range(350)])
    await usage_reaches(api, setup, "350")
    draft = the(await api.post("/v1/invoices/generate", json={"subscription_id": setup.subscription_id}),
                "invoice", 201)
    paid = the(await api.post(f"/v1/invoices/{draft['id']}/finalize"), "invoice")
    assert (paid["total"], paid["status"]) == ("700.00", "paid")
    # Paid is past finalized: asking again is refused, and pays nothing twice.
    assert (await api.post(f"/v1/invoices/{draft['id']}/finalize")).status_code == 409
    assert check(await api.get(f"/v1/wallets/{wallet['id']}"), "wallet", WALLET)["balance"] == "300.00"
    [usage, _] = (await api.get(f"/v1/wallets/{wallet['id']}/transactions")).json()["transactions"]
    assert (usage["entry_type"], usage["amount"], usage["reference_type"], usage["reference_id"]) == (
        "usage", "700.00", "invoice", draft["id"])
    assert paid["provider_invoice_id"] == usage["transaction_id"]
    sides = await pool.fetch("SELECT direction, sum(amount) AS total FROM ledger_entries WHERE wallet_id = $1 "
                             "GROUP BY direction", wallet["id"])
    assert {r["direction"]: r["total"] for r in sides} == {"debit": Decimal("1700.00"), "credit": Decimal("1700.00")}

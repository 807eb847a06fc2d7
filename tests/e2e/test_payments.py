"""Collection end to end: the gateway and the payment worker as real processes, Postgres, and the wire
double of Paystack and Flutterwave. Every invoice is charged at most once, for exactly its total, in the
provider's unit; declines are retried on the dunning schedule and then the invoice is uncollectible; a
provider's webhooks are verified, confirmed, deduplicated, and harmless when repeated or late."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from meterflow.clock import SteppedClock
from meterflow.settings import Settings
from services.payments.bootstrap import payment_worker as worker_of
from tests.e2e.payments_stack import (
    WORKER,
    PaymentStack,
    customer_with_method,
    finalized_invoice,
    invoice,
    pay_api,
    payment_stack,
    payment_worker,
    subscribe,
    transactions,
)
from tests.provider_doubles import provider_settings
from tests.support import ServiceProcess, eventually, unique

__all__ = ["pay_api", "payment_stack", "payment_worker"]  # fixtures


def paid(item: dict[str, object]) -> bool:
    return item["status"] == "paid"


@pytest.mark.parametrize(("provider", "currency", "total", "sent"), [
    ("paystack", "NGN", "1500.50", Decimal(150050)),  # kobo
    ("flutterwave", "NGN", "1500.50", Decimal("1500.50")),
    ("flutterwave", "USD", "19.99", Decimal("19.99")),
])
async def test_a_finalized_invoice_is_charged_once_for_its_total_and_paid(
        pay_api: httpx.AsyncClient, payment_stack: PaymentStack, payment_worker: ServiceProcess, provider: str,
        currency: str, total: str, sent: Decimal) -> None:
    payment_worker.start(**{**WORKER, **payment_stack.overrides})
    subscription, method = await customer_with_method(pay_api, provider, unique("AUTH"), currency, base_fee=total)
    finalized = await finalized_invoice(pay_api, subscription)
    assert finalized["total"] == total and finalized["amount_due"] == total
    done = await eventually(lambda: invoice(pay_api, finalized["id"]), paid, 30)
    [attempt] = await transactions(pay_api, finalized["id"])
    assert attempt["status"] == "succeeded" and attempt["payment_method_id"] == method and attempt["attempt"] == 1
    assert done["provider_invoice_id"] == attempt["reference"] and done["paid_at"]
    assert done["payment_status"] == "succeeded" and done["amount_paid"] == total and done["amount_due"] == "0.00"
    [charge] = payment_stack.double.succeeded(attempt["reference"])
    assert charge.amount == sent and charge.currency == currency and charge.provider == provider


async def test_a_charge_whose_answer_is_lost_is_verified_and_never_made_twice(
        pay_api: httpx.AsyncClient, payment_stack: PaymentStack, payment_worker: ServiceProcess) -> None:
    double = payment_stack.double
    double.hang_after_charge, double.hang_s = 1, 3.0  # charged, then silent past the worker's 1 s timeout
    payment_worker.start(**{**WORKER, **payment_stack.overrides})
    subscription, _ = await customer_with_method(pay_api, "paystack", unique("AUTH"))
    finalized = await finalized_invoice(pay_api, subscription)
    await eventually(lambda: invoice(pay_api, finalized["id"]), paid, 30)
    [attempt] = await transactions(pay_api, finalized["id"])
    assert attempt["status"] == "succeeded"
    assert len(double.succeeded(finalized["id"].replace("_", "-"))) == 1
    charges = [r for r in double.requests if r[1] == "/transaction/charge_authorization"
               and r[2]["reference"] == attempt["reference"]]
    assert len(charges) == 1, "a lost answer is resolved by verifying, never by charging again"


async def test_a_decline_is_retried_on_the_schedule_then_the_invoice_is_uncollectible(
        pay_api: httpx.AsyncClient, payment_stack: PaymentStack, settings: Settings) -> None:
    """The worker in this process on a stepped clock: the default schedule (1 d, 3 d, 5 d) in no time."""
    token = unique("AUTH_poor")
    payment_stack.double.decline.add(token)
    subscription, _ = await customer_with_method(pay_api, "paystack", token)
    finalized = await finalized_invoice(pay_api, subscription)
    clock = SteppedClock(datetime.now(UTC) + timedelta(seconds=1))
    configured = Settings(**{**settings.model_dump(exclude_none=True), **provider_settings(payment_stack.double.url)})
    async with worker_of(configured, clock) as worker:
        for wait in (timedelta(0), timedelta(days=1), timedelta(days=3), timedelta(days=5)):
            clock.advance(wait)
            claims = [c for c in await worker.collection.claim(100) if c.invoice_id == finalized["id"]]
            assert len(claims) == 1, f"due after {wait}"
            assert (await worker.collection.collect(claims[0]))[0] == "failed"
            early = [c for c in await worker.collection.claim(100) if c.invoice_id == finalized["id"]]
            assert not early, "retried before its wait was over"
    attempts = await transactions(pay_api, finalized["id"])
    assert [a["status"] for a in attempts] == ["failed"] * 4
    assert {a["failure_reason"] for a in attempts} == {"Insufficient Funds"}
    assert attempts[-1]["next_attempt_at"] is None and attempts[0]["next_attempt_at"] is not None
    final = await invoice(pay_api, finalized["id"])
    assert final["status"] == "uncollectible" and final["payment_status"] == "failed"
    assert final["amount_due"] == final["total"] and not payment_stack.double.succeeded(attempts[0]["reference"])
    assert (await pay_api.post(f"/v1/invoices/{finalized['id']}/initiate-payment")).status_code == 409


async def test_repeated_and_late_webhooks_change_nothing_and_forged_ones_are_refused(
        pay_api: httpx.AsyncClient, payment_stack: PaymentStack, payment_worker: ServiceProcess) -> None:
    double = payment_stack.double
    token = unique("AUTH")
    double.decline.add(token)
    double.webhook_before_answer = payment_stack.gateway_url  # the webhook races the API's answer
    try:
        payment_worker.start(**{**WORKER, **payment_stack.overrides})
        subscription, _ = await customer_with_method(pay_api, "paystack", token)
        finalized = await finalized_invoice(pay_api, subscription)
        await eventually(lambda: transactions(pay_api, finalized["id"]),
                         lambda t: bool(t) and t[0]["status"] == "failed", 30)
        double.decline.discard(token)
        await eventually(lambda: invoice(pay_api, finalized["id"]), paid, 30)
    finally:
        double.webhook_before_answer = None
    first, second = await transactions(pay_api, finalized["id"])
    assert (first["status"], second["status"]) == ("failed", "succeeded")
    for reference in (second["reference"], first["reference"], second["reference"]):  # repeated, late
        answer = await double.send_webhook("paystack", reference, payment_stack.gateway_url)
        assert answer.status_code == 200 and answer.json()["status"] == "duplicate", answer.text
    assert [t["status"] for t in await transactions(pay_api, finalized["id"])] == ["failed", "succeeded"]
    assert len(double.succeeded(second["reference"])) == 1
    body, headers = double.webhook("paystack", second["reference"])
    async with httpx.AsyncClient(base_url=payment_stack.gateway_url) as raw:
        forged = await raw.post("/v1/providers/paystack/webhooks", content=body,
                                headers={**headers, "x-paystack-signature": "0" * 128})
        assert forged.status_code == 401 and forged.json()["param"] == "x-paystack-signature"
        flw = await raw.post("/v1/providers/flutterwave/webhooks", content=b"{not json",
                             headers={"verif-hash": "flw-hash-test"})
        assert flw.status_code == 400 and flw.json()["param"] == "body"


async def test_what_is_never_charged(pay_api: httpx.AsyncClient, payment_stack: PaymentStack,
                                    payment_worker: ServiceProcess) -> None:
    double = payment_stack.double
    payment_worker.start(**{**WORKER, **payment_stack.overrides})
    subscription, _ = await customer_with_method(pay_api, "paystack", unique("AUTH"))
    draft = (await pay_api.post("/v1/invoices/generate", json={"subscription_id": subscription})).json()["invoice"]
    assert (await pay_api.post(f"/v1/invoices/{draft['id']}/initiate-payment")).status_code == 409
    assert (await pay_api.post("/v1/invoices/inv_nothere/initiate-payment")).status_code == 404
    customer_id = draft["customer_id"]
    wrong_field = await pay_api.post(f"/v1/customers/{customer_id}/payment_methods",
                                     json={"provider": "paystack", "token": "AUTH_x", "email": "a@b.co"})
    assert wrong_field.status_code == 400 and "authorization_code" in wrong_field.json()["param"], wrong_field.text
    payout, _ = await customer_with_method(pay_api, "paystack", unique("AUTH"), plan_type="payout")
    slip = await finalized_invoice(pay_api, payout)
    refused = await pay_api.post(f"/v1/invoices/{slip['id']}/initiate-payment")
    assert refused.status_code == 409 and "payout" in refused.json()["error"]
    yen, _ = await customer_with_method(pay_api, "paystack", unique("AUTH"), currency="JPY", base_fee="1500")
    unsupported = await pay_api.post(f"/v1/invoices/{(await finalized_invoice(pay_api, yen))['id']}/initiate-payment")
    assert unsupported.status_code == 400 and unsupported.json()["param"] == "currency", unsupported.text
    void = await finalized_invoice(pay_api, (await customer_with_method(pay_api, "paystack", unique("A")))[0])
    assert (await pay_api.post(f"/v1/invoices/{void['id']}/void")).status_code == 200
    assert (await pay_api.post(f"/v1/invoices/{void['id']}/initiate-payment")).status_code == 409
    # A collection invoice finalized after the payout slip is paid: the worker has had its chance at both.
    control = await finalized_invoice(pay_api, (await customer_with_method(pay_api, "paystack", unique("A")))[0])
    await eventually(lambda: invoice(pay_api, control["id"]), paid, 30)
    assert not [r for r in double.requests if slip["id"].replace("_", "-") in r[1] + str(r[2])]
    assert (await invoice(pay_api, slip["id"]))["payment_status"] == "none"
    assert await transactions(pay_api, slip["id"]) == []


async def test_a_card_saved_through_the_hosted_checkout_is_the_default_and_pays_the_next_invoice(
        pay_api: httpx.AsyncClient, payment_stack: PaymentStack, payment_worker: ServiceProcess) -> None:
    double = payment_stack.double
    customer = (await pay_api.post("/v1/customers", json={"external_id": unique("e"), "name": "n"})).json()["customer"]
    started = await pay_api.post(f"/v1/customers/{customer['id']}/payment_methods/setup",
                                 json={"provider": "flutterwave", "email": "c@acme.test"})
    assert started.status_code == 201, started.text
    setup = started.json()["setup"]
    assert setup["authorization_url"].startswith("https://") and setup["provider"] == "flutterwave"
    pending = await pay_api.get(f"/v1/customers/{customer['id']}/payment_methods/setup/{setup['reference']}")
    assert pending.status_code == 409
    double.complete_checkout("flutterwave", setup["reference"], unique("flw-t1nf"))
    assert (await double.send_webhook("flutterwave", setup["reference"], payment_stack.gateway_url)).status_code == 200
    methods = (await pay_api.get(f"/v1/customers/{customer['id']}/payment_methods")).json()["payment_methods"]
    assert len(methods) == 1 and methods[0]["is_default"] and methods[0]["last4"] == "2950"
    again = await pay_api.get(f"/v1/customers/{customer['id']}/payment_methods/setup/{setup['reference']}")
    assert again.json()["payment_method"]["id"] == methods[0]["id"]  # saved once

    payment_worker.start(**{**WORKER, **payment_stack.overrides})
    finalized = await finalized_invoice(pay_api, await subscribe(pay_api, customer["id"], "USD", base_fee="12.00"))
    await eventually(lambda: invoice(pay_api, finalized["id"]), paid, 30)
    [attempt] = await transactions(pay_api, finalized["id"])
    assert attempt["payment_method_id"] == methods[0]["id"] and attempt["provider"] == "flutterwave"
    [charge] = double.succeeded(attempt["reference"])
    assert charge.token == double.ledger[("flutterwave", setup["reference"])].token and charge.amount == Decimal(12)

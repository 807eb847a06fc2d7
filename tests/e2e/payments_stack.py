"""The stack the payment tests drive: a gateway of their own pointed at the provider double (the session's
gateway knows no provider), the double itself, the payment worker as a real process, and helpers that build
a finalized invoice through the API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from meterflow.settings import Settings
from services.devstack.embedded import free_port
from tests.e2e.scenario import created, the
from tests.provider_doubles import ProviderDouble, provider_double, provider_settings
from tests.support import ServiceProcess, unique

# A worker that gives up waiting quickly, asks again soon, and retries a decline after 0.3 s.
WORKER = {"payment_timeout_s": "1", "payment_lease_s": "3", "payment_recheck_s": "0.3",
          "payment_poll_interval_s": "0.1", "dunning_schedule": "0.3s,0.3s"}


@dataclass(frozen=True)
class PaymentStack:
    double: ProviderDouble
    overrides: dict[str, str]
    gateway_url: str


@pytest.fixture(scope="module")
async def payment_stack(settings: Settings) -> AsyncIterator[PaymentStack]:
    async with provider_double() as double:
        # The gateway settles what webhooks confirm: it runs the same short dunning schedule as the worker.
        overrides = {**provider_settings(double.url), "api_port": str(free_port()),
                     "dunning_schedule": WORKER["dunning_schedule"]}
        with ServiceProcess.running("gateway", settings, **overrides):
            yield PaymentStack(double, overrides, f"http://127.0.0.1:{overrides['api_port']}")


@pytest.fixture
async def pay_api(payment_stack: PaymentStack, test_key: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=payment_stack.gateway_url, timeout=30,
                                 headers={"Authorization": f"Bearer {test_key}"}) as client:
        yield client


@pytest.fixture
def payment_worker(settings: Settings, payment_stack: PaymentStack) -> Iterator[ServiceProcess]:
    """`meterflow payments`, started by the test (`start(**WORKER)`) and stopped after it."""
    service = ServiceProcess("payments", settings)
    yield service
    service.stop()
    assert "Traceback" not in service.log(), service.log()[-3000:]


async def subscribe(api: httpx.AsyncClient, customer_id: str, currency: str = "NGN", plan_type: str = "collection",
                    base_fee: str = "1500.50") -> str:
    """A subscription whose plan bills `base_fee` a period whatever the usage."""
    metric = await created(await api.post("/v1/metrics", json={"name": "calls", "event_name": unique("call"),
                                                               "aggregation": "count"}))
    plan = await created(await api.post("/v1/plans", json={
        "name": "base", "currency": currency, "plan_type": plan_type, "prices": [{
            "metric_id": metric["id"], "model": "overage", "base_fee": base_fee, "included_units": "1000",
            "unit_price": "1"}]}))
    subscription = await created(await api.post("/v1/subscriptions", json={"customer_id": customer_id,
                                                                           "plan_id": plan["id"]}))
    return str(subscription["id"])


async def customer_with_method(api: httpx.AsyncClient, provider: str, token: str, currency: str = "NGN",
                               plan_type: str = "collection", base_fee: str = "1500.50") -> tuple[str, str]:
    """(subscription id, payment method id): a subscribed customer with a default method of `provider`."""
    customer = await created(await api.post("/v1/customers", json={"external_id": unique("ext"), "name": "Acme"}))
    subscription = await subscribe(api, customer["id"], currency, plan_type, base_fee)
    key = "authorization_code" if provider == "paystack" else "token"
    method = await created(await api.post(f"/v1/customers/{customer['id']}/payment_methods",
                                          json={"provider": provider, key: token, "email": "pay@acme.test"}))
    assert method["is_default"] is True and "token" not in method and key not in method
    return subscription, method["id"]


async def finalized_invoice(api: httpx.AsyncClient, subscription_id: str) -> dict[str, Any]:
    draft = the(await api.post("/v1/invoices/generate", json={"subscription_id": subscription_id}), "invoice", 201)
    return the(await api.post(f"/v1/invoices/{draft['id']}/finalize"), "invoice")


async def invoice(api: httpx.AsyncClient, invoice_id: str) -> dict[str, Any]:
    return the(await api.get(f"/v1/invoices/{invoice_id}"), "invoice")


async def transactions(api: httpx.AsyncClient, invoice_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/v1/invoices/{invoice_id}/transactions")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["transactions"]
    return items

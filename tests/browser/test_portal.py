"""The customer portal in a real browser on the real stack: a link made by the API opens the customer's
page, the usage plot shows events just ingested (with the exact figure beside it), invoices open with
their lines, the page works inside another site's iframe, a customer's name is text and never markup,
and a revoked link answers 401 on the next load."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Dialog, Page, expect

from tests.e2e.scenario import billing_setup, created, event, ingest, usage_reaches
from tests.support import eventually

Screenshot = Callable[[Page, str], Awaitable[Path]]
EVENTS = 7


async def _link(api: httpx.AsyncClient, customer_id: str) -> dict[str, Any]:
    return await created(await api.post("/v1/portal/tokens", json={"customer_external_id": customer_id,
                                                                    "label": "browser test"}))


async def _figure_shown(page: Page, url: str, selector: str, text: str) -> None:
    """Reload until the page shows `text` (the processor counts within a second or so), with a deadline."""
    async def shown() -> str:
        await page.goto(url)
        return (await page.locator(selector).first.text_content() or "").strip()

    await eventually(shown, lambda value: value == text, timeout_s=20, interval_s=0.3)


async def test_a_customer_sees_usage_and_invoices_until_the_link_is_revoked(
        api: httpx.AsyncClient, page: Page, screenshot: Screenshot) -> None:
    setup = await billing_setup(api)
    await api.put(f"/v1/customers/{setup.customer_id}", json={"name": "Acme Ltd"})
    await ingest(api, [event(setup) for _ in range(EVENTS)])
    await usage_reaches(api, setup, str(EVENTS))
    invoice = await created(await api.post("/v1/invoices/generate", json={"subscription_id": setup.subscription_id}))
    wallet = (await api.post("/v1/wallets", json={"customer_id": setup.customer_id, "currency": "NGN"})).json()
    await api.post(f"/v1/wallets/{wallet['wallet']['id']}/credit",
                   json={"amount": "5000.00", "description": "Top-up", "entry_type": "deposit"})
    link = await _link(api, setup.customer_id)

    await _figure_shown(page, link["portal_url"], f"[data-billed='{setup.metric_id}']", str(EVENTS))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Acme Ltd")
    await expect(page.locator("figure.plot.plot-drawn canvas").first).to_be_visible()  # uPlot drew it
    figures = page.get_by_role("table", name="API calls per day (count), exact figures")  # a monthly period
    await expect(figures.locator("td.num").get_by_text(str(EVENTS), exact=True)).to_have_count(1)
    await expect(page.locator(f"[data-accrued='{setup.subscription_id}']")).to_have_text("14.00 NGN")  # 7 at 2.00
    await expect(page.locator("#wallets ~ section").first).to_contain_text("5000.00 NGN")
    await screenshot(page, "portal")

    await page.get_by_role("link", name=invoice["id"]).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Invoice {invoice['id']}")
    await expect(page.get_by_role("table", name="Lines").locator("tbody tr")).to_have_count(1)
    await screenshot(page, "portal-invoice")

    assert (await api.delete(f"/v1/portal/tokens/{link['id']}")).status_code == 200
    refused = await page.goto(link["portal_url"])
    assert refused is not None and refused.status == 401
    await expect(page.get_by_role("alert")).to_contain_text("not valid")


async def test_the_portal_works_inside_an_iframe(api: httpx.AsyncClient, page: Page) -> None:
    setup = await billing_setup(api)
    link = await _link(api, setup.customer_id)
    await page.set_content(f'<h1>Our site</h1><iframe title="Billing" src="{link["portal_url"]}" '
                           'width="1000" height="700"></iframe>')
    framed = page.frame_locator("iframe[title='Billing']")
    await expect(framed.get_by_role("heading", level=1)).to_have_text("Acme")


async def test_a_customer_name_is_text_never_markup(api: httpx.AsyncClient, page: Page) -> None:
    setup = await billing_setup(api)
    name = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    await api.put(f"/v1/customers/{setup.customer_id}", json={"name": name})
    dialogs: list[str] = []

    async def record(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", record)
    await page.goto((await _link(api, setup.customer_id))["portal_url"])
    await expect(page.get_by_role("heading", level=1)).to_have_text(name)
    assert await page.locator("main img").count() == 0
    assert dialogs == []

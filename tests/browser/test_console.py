"""The ops console in a real browser on the real stack: sign in, find a customer, watch the usage plot's table
take in events just ingested, open an invoice, follow a line to its events and finalize it. The customer's
name is markup, and must show as text. Screenshots of the overview, customer and invoice pages are written
to docs/screenshots/."""

from __future__ import annotations

import httpx
from playwright.async_api import Browser, Page, expect

from meterflow.settings import Settings
from tests.browser.conftest import Screenshot
from tests.e2e.scenario import Setup, created, event, ingest, the
from tests.support import unique

MARKUP_NAME = "<script>alert('owned')</script> Ltd"
WAIT_MS = 60_000  # the processor counting on a loaded 2-core box, its group just joined


async def _customer_named_with_markup(api: httpx.AsyncClient) -> Setup:
    event_name = unique("api_call")
    customer = await created(await api.post("/v1/customers", json={
        "external_id": unique("ext"), "name": MARKUP_NAME, "email": "ops@markup.test"}))
    metric = await created(await api.post("/v1/metrics", json={
        "name": "API calls", "event_name": event_name, "aggregation": "count"}))
    plan = await created(await api.post("/v1/plans", json={
        "name": "Pay as you go", "currency": "NGN", "plan_type": "collection", "billing_period": "monthly",
        "prices": [{"metric_id": metric["id"], "model": "flat_unit", "unit_price": "2.000000"}]}))
    subscription = await created(await api.post("/v1/subscriptions", json={"customer_id": customer["id"],
                                                                           "plan_id": plan["id"]}))
    return Setup(customer["id"], metric["id"], plan["id"], subscription["id"], event_name)


async def test_ops_find_a_customer_see_fresh_usage_and_finalize_an_invoice(
        page: Page, api: httpx.AsyncClient, settings: Settings, test_key: str, screenshot: Screenshot) -> None:
    setup = await _customer_named_with_markup(api)
    console = f"http://127.0.0.1:{settings.api_port}/console"

    await page.goto(console)
    await page.get_by_label("API key").fill(test_key)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    await expect(page.get_by_role("table", name="Events per hour of receipt, last 24 h (events), exact figures")
                 ).to_be_visible()

    await page.get_by_role("link", name="Customers").click()
    await page.get_by_label("Find a customer").fill(setup.customer_id)
    await page.get_by_role("button", name="Search").click()
    await page.get_by_role("link", name=MARKUP_NAME).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(MARKUP_NAME)  # text, never markup

    keys = [unique("evt") for _ in range(3)]
    await ingest(api, [event(setup, key) for key in keys])
    usage = page.get_by_role("table", name="API calls per day (count), exact figures")
    today = usage.locator("tbody tr").last.locator("td")
    for _ in range(WAIT_MS // 500):  # the page is server-rendered: reload until the count lands (deadline)
        if await today.text_content() == "3":
            break
        await page.wait_for_timeout(500)
        await page.reload()
    await expect(today).to_have_text("3")
    await expect(page.locator(f"[data-billed=\"{setup.metric_id}\"]")).to_have_text("3")

    draft = the(await api.post("/v1/invoices/generate", json={"subscription_id": setup.subscription_id}),
                "invoice", 201)
    await page.reload()
    await screenshot(page, "console-customer")
    await page.get_by_role("link", name=draft["id"]).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Invoice {draft['id']}")
    await screenshot(page, "console-invoice")

    await page.get_by_role("link", name="Events behind line 0").click()
    events = page.locator("table.events tbody tr")
    await expect(events).to_have_count(3)
    for key in keys:
        await expect(page.locator("table.events").get_by_role("cell", name=key, exact=True)).to_be_visible()

    await page.get_by_role("button", name="Finalize").click()
    await expect(page.get_by_role("status")).to_have_text("Invoice finalized.")
    await expect(page.locator("[data-status]")).to_have_text("finalized")
    assert the(await api.get(f"/v1/invoices/{draft['id']}"), "invoice")["status"] == "finalized"

    await page.get_by_role("link", name="Overview").click()  # now with this test's events in its figures
    await expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    await screenshot(page, "console-overview")


async def test_the_console_works_without_javascript(browser: Browser, api: httpx.AsyncClient, settings: Settings,
                                                    test_key: str) -> None:
    """Forms are plain HTML forms and every plot has its table: signing in, searching, reading a customer's
    figures and signing out need no script."""
    setup = await _customer_named_with_markup(api)
    context = await browser.new_context(java_script_enabled=False)
    try:
        page = await context.new_page()
        await page.goto(f"http://127.0.0.1:{settings.api_port}/console/login")
        await page.get_by_label("API key").fill(test_key)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("table", name="Events per hour of receipt, last 24 h (events), exact figures")
                     ).to_be_visible()
        await page.get_by_role("link", name="Customers").click()
        await page.get_by_label("Find a customer").fill(setup.customer_id)
        await page.get_by_role("button", name="Search").click()
        await page.get_by_role("link", name=MARKUP_NAME).click()
        await expect(page.get_by_role("table", name="API calls per day (count), exact figures")).to_be_visible()
        await page.get_by_role("button", name="Sign out").click()
        await expect(page.get_by_role("heading", name="Sign in to the console")).to_be_visible()
    finally:
        await context.close()

"""The browser tier: Debian's headless Chromium driven by Playwright, one browser for the session.

Playwright never downloads a browser here: the system's /usr/bin/chromium is launched. When it is missing
the tier fails (never skips) and says how to install it; `make test` installs it first. Every page runs
offline: a request for anything but the local gateway is refused and fails the test, so a page that needs
a CDN is caught here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Page, Route, async_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
Screenshot = Callable[[Page, str], Awaitable[Path]]


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: the browser tests need Debian's Chromium. Install it with "
                    "`make browser` (apt-get install -y --no-install-recommends chromium, with sudo when not "
                    "root) and run the tests again.", pytrace=False)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A fresh browser context (no cookies carried between tests) whose pages may reach only the local
    gateway."""
    outside: list[str] = []

    async def local_only(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).hostname in LOCAL_HOSTS or url.startswith(("data:", "about:")):
            await route.continue_()
        else:
            outside.append(url)
            await route.abort()

    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    await context.route("**/*", local_only)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # A script or style our own Content Security Policy refuses is only a console message, not an error.
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text else None)
    yield page
    await context.close()
    assert outside == [], f"the page asked for resources outside the gateway (pages must work offline): {outside}"
    assert errors == [], f"the page's scripts failed or were refused: {errors}"


@pytest.fixture(scope="session")
def screenshot() -> Screenshot:
    """Saves a full-page PNG under docs/screenshots/ (committed: the README shows the current pages)."""

    async def save(page: Page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        return path

    return save

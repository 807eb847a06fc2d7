"""The page kit in a real browser: a plot is drawn by the vendored uPlot from our own origin, its exact
figures sit in a table beside it, and markup in a label stays text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, DictLoader
from playwright.async_api import Page, Route, expect

from services.gateway.web.plots import Series
from services.gateway.web.templates import install_web, page

ORIGIN = "http://127.0.0.1:9"  # never dialled: the browser's requests are answered by the app in process
PLOT_PAGE = """{% extends "base.html" %}{% from "_plot.html" import plot %}
{% block nav %}<a href="/kit" aria-current="page">Kit</a>{% endblock %}
{% block content %}<h1>{{ heading }}</h1>{{ plot(series, buckets, "API calls", "calls") }}{% endblock %}"""


def _kit_app() -> FastAPI:
    app = FastAPI()
    install_web(app)
    templates = app.state.templates
    templates.loader = ChoiceLoader([DictLoader({"kit.html": PLOT_PAGE}), templates.loader])
    hours = [datetime(2026, 12, 1, tzinfo=UTC) + timedelta(hours=h) for h in range(24)]
    figures = [Decimal(h * h) + Decimal("0.25") for h in range(24)]

    @app.get("/kit")
    async def kit(request: Request) -> HTMLResponse:
        return page(request, "kit.html", {"heading": "<script>alert(1)</script>",
                                          "series": [Series("calls <i>", figures)], "buckets": hours})

    return app


async def _serve_in_process(browser_page: Page, app: FastAPI) -> None:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ORIGIN)

    async def answer(route: Route) -> None:
        reply = await client.get(route.request.url)
        await route.fulfill(status=reply.status_code, headers=dict(reply.headers), body=reply.content)

    await browser_page.route(f"{ORIGIN}/**", answer)


async def test_a_plot_is_drawn_offline_with_its_figures_beside_it(page: Page) -> None:
    await _serve_in_process(page, _kit_app())
    await page.goto(f"{ORIGIN}/kit")
    await expect(page.locator("figure.plot.plot-drawn canvas")).to_have_count(1)
    await expect(page.get_by_role("heading", level=1)).to_have_text("<script>alert(1)</script>")
    table = page.get_by_role("table", name="API calls (calls), exact figures")
    await expect(table.get_by_role("columnheader", name="calls <i>")).to_be_visible()
    await expect(table.locator("tbody tr")).to_have_count(24)
    await expect(table.locator("tbody tr").nth(23).locator("td")).to_have_text("529.25")

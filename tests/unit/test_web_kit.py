"""The page kit's promises: text is escaped, every plot carries its exact figures in a table, framing is
refused unless a page opts in, and the vendored charting library is served from our own origin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from services.gateway.web.plots import Series, figure_text, plot_payload
from services.gateway.web.templates import build_environment, install_web, page

HOURS = [datetime(2026, 12, 1, tzinfo=UTC) + timedelta(hours=h) for h in range(3)]


def test_text_is_escaped_in_every_template() -> None:
    rendered = build_environment().get_template("error.html").render(
        heading="<script>alert(1)</script>", message="a & b")
    assert "<script>alert(1)</script>" not in rendered
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered
    assert "a &amp; b" in rendered


def test_a_plot_prints_its_exact_figures_in_a_table() -> None:
    template = build_environment().from_string(
        '{% from "_plot.html" import plot %}{{ plot(series, buckets, "API calls", "calls") }}')
    series = [Series("<b>calls</b>", [Decimal("12345678901234567890.000001"), 0, None])]
    rendered = template.render(series=series, buckets=HOURS)
    assert '<td class="num">12345678901234567890.000001</td>' in rendered  # no float on the way
    assert '<td class="num">0</td>' in rendered and '<td class="num"></td>' in rendered
    assert "&lt;b&gt;calls&lt;/b&gt;" in rendered and "<b>calls</b>" not in rendered
    assert '<time datetime="2026-12-01T02:00:00+00:00">2026-12-01 02:00</time>' in rendered
    # The chart's data cannot close its script element, whatever a label holds.
    evil = template.render(series=[Series("</script><script>x()</script>", [1, 2, 3])], buckets=HOURS)
    assert "</script><script>x()" not in evil


def test_plot_data_is_unix_seconds_and_decimal_text() -> None:
    payload = plot_payload([Series("gb", [Decimal("1.50"), Decimal("2E+3"), None])], HOURS)
    assert payload == {"x": [1796083200, 1796086800, 1796090400],
                       "series": [{"label": "gb", "y": ["1.50", "2000", ""]}], "span": None}
    assert figure_text(Decimal("0E-8")) == "0"


def test_a_series_must_have_one_figure_per_bucket() -> None:
    with pytest.raises(ValueError, match="2 figures for 3 buckets"):
        plot_payload([Series("gb", [1, 2])], HOURS)


def _app() -> FastAPI:
    app = FastAPI()
    install_web(app)

    @app.get("/framed")
    async def framed(request: Request) -> HTMLResponse:
        return page(request, "error.html", {"heading": "h", "message": "m"}, frameable=True)

    @app.get("/unframed")
    async def unframed(request: Request) -> HTMLResponse:
        return page(request, "error.html", {"heading": "h", "message": "m"}, status_code=404)

    return app


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://pages")


async def test_pages_refuse_framing_unless_they_opt_in() -> None:
    async with _client() as client:
        closed, opened = await client.get("/unframed"), await client.get("/framed")
    assert closed.status_code == 404
    assert closed.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in closed.headers["content-security-policy"]
    assert "x-frame-options" not in opened.headers
    assert "frame-ancestors" not in opened.headers["content-security-policy"]
    assert "script-src 'self'" in opened.headers["content-security-policy"]


async def test_the_charting_library_and_its_licence_are_served_locally() -> None:
    async with _client() as client:
        script = await client.get("/static/vendor/uplot-1.6.32/uPlot.iife.min.js")
        assert script.status_code == 200 and "v1.6.32" in script.text
        assert "MIT License" in (await client.get("/static/vendor/uplot-1.6.32/LICENSE")).text
        assert (await client.get("/static/plots.js")).status_code == 200
        assert (await client.get("/static/meterflow.css")).status_code == 200

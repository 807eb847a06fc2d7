"""One Jinja2 environment for every page, built by the app factory (never at import), autoescape on for
all templates so a customer's name is always text, never markup.

Pages answer through `page()`: it renders and sets the headers every page carries (a strict Content
Security Policy that allows only our own scripts and styles, and a framing rule). Framing is refused by
default (the console's forms must not be clickjacked); the customer portal opts in to being embedded."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from meterflow.domain.presentation import decimal_text
from services.gateway.web.plots import figure_text, plot_payload

WEB_DIR = Path(__file__).resolve().parent
STATIC_PATH = "/static"
UPLOT_DIR = "vendor/uplot-1.6.32"

# Only our own origin for scripts, styles and images; the plot data travels in a non-executed
# `<script type="application/json">`, so no inline script is ever needed.
_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; " \
       "base-uri 'none'; form-action 'self'"


def build_environment() -> Environment:
    environment = Environment(loader=FileSystemLoader(WEB_DIR / "templates"),
                              autoescape=select_autoescape(default=True, default_for_string=True),
                              undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.globals.update(static=STATIC_PATH, uplot=f"{STATIC_PATH}/{UPLOT_DIR}", plot_payload=plot_payload,
                               figure_text=figure_text)
    environment.filters.update(exact=exact, utc=utc)
    return environment


def exact(value: Decimal | None) -> str:
    """A money or quantity figure with exactly its stored digits (`1500.00`), never an exponent."""
    return decimal_text(value) or ""


def utc(value: datetime | None) -> str:
    """An instant as pages show it: to the minute, in UTC, saying so."""
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def install_web(app: FastAPI) -> None:
    """The template environment on `app.state.templates` and the static files (CSS, scripts, uPlot) under
    /static."""
    app.state.templates = build_environment()
    app.mount(STATIC_PATH, StaticFiles(directory=WEB_DIR / "static"), name="static")


def page(request: Request, template: str, values: Mapping[str, Any], *, status_code: int = 200,
         frameable: bool = False) -> HTMLResponse:
    """`template` rendered with `values` as an HTML answer. `frameable`: may be shown inside another
    site's iframe (the customer portal); otherwise any framing is refused."""
    environment: Environment = request.app.state.templates
    body = environment.get_template(template).render(values)
    # A frameable page names no frame-ancestors at all: `*` would still refuse a parent with no network
    # origin (a page written by a script, a file), which an embedding site may well be.
    headers = {"Content-Security-Policy": _CSP if frameable else f"{_CSP}; frame-ancestors 'none'",
               "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
    if not frameable:
        headers["X-Frame-Options"] = "DENY"
    return HTMLResponse(body, status_code=status_code, headers=headers)

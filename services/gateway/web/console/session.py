"""The console's guard: who is signed in, which forms are genuine, and the headers every console page carries.

A page depends on `signed_in` (no session: a redirect to the sign-in page); a form's handler on `posted_form`,
which also checks the form's CSRF token against the session's (403 without it). The sign-in form, posted
before any session exists, is checked by double submit: its token is also in a short-lived cookie.
Cookies are HttpOnly, SameSite=Strict, scoped to /console, and Secure when the console is served over
https (directly or behind a proxy that says so in X-Forwarded-Proto).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Depends, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from meterflow.application.console_sessions import ConsoleSessions
from meterflow.domain.console_sessions import CSRF_FIELD, SESSION_COOKIE, ConsoleSession, same_token
from services.gateway.checked_route import check_parameters, read_body
from services.gateway.context import GatewayContext, context

PATH = "/console"
SIGN_IN_PATH = f"{PATH}/login"
MAX_FORM_BYTES = 16 * 1024
# Console pages are never framed (clickjacking of its buttons) nor cached (they show live, private figures).
PAGE_HEADERS = {"X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'",
                "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


class SignInRequired(Exception):
    """No live session: the answer is the sign-in page."""


class FormRefused(Exception):
    """A form posted without its CSRF token, or with another session's: 403."""


def console_sessions(ctx: GatewayContext = Depends(context)) -> ConsoleSessions:
    return ctx.pages.console_sessions


async def signed_in(request: Request, sessions: ConsoleSessions = Depends(console_sessions)) -> ConsoleSession:
    session = await sessions.session(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise SignInRequired
    return session


async def read_form(request: Request) -> dict[str, str]:
    """The urlencoded body, bounded; a field given twice keeps its last value."""
    body = await read_body(request, MAX_FORM_BYTES)
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


async def posted_form(request: Request, session: ConsoleSession = Depends(signed_in)) -> dict[str, str]:
    form = await read_form(request)
    if not same_token(session.csrf_token, form.get(CSRF_FIELD)):
        raise FormRefused
    return form


def served_over_https(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return (forwarded or request.url.scheme) == "https"


def set_cookie(response: Response, request: Request, name: str, value: str, max_age_s: int) -> None:
    response.set_cookie(name, value, max_age=max_age_s, path=PATH, httponly=True, samesite="strict",
                        secure=served_over_https(request))


def forget_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(name, path=PATH, httponly=True, samesite="strict", secure=served_over_https(request))


def to_sign_in() -> RedirectResponse:
    return RedirectResponse(SIGN_IN_PATH, status_code=303)


Refusals = Callable[[Request, Exception], Response | None]


def console_route(refusal_page: Refusals) -> type[APIRoute]:
    """The route class of console pages: every answer carries `PAGE_HEADERS`; no session redirects to the
    sign-in page, and `refusal_page` renders what else is refused (None: not ours, raised on)."""

    class ConsoleRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                try:
                    check_parameters(request)
                    response = await handler(request)
                except SignInRequired:
                    response = to_sign_in()
                except Exception as error:
                    refused = refusal_page(request, error)
                    if refused is None:
                        raise
                    response = refused
                for name, value in PAGE_HEADERS.items():  # a page's own (its strict CSP) are kept
                    response.headers.setdefault(name, value)
                return response

            return guarded

    return ConsoleRoute

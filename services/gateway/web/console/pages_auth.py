"""Signing in to the console and out of it."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from meterflow.application.console_sessions import ConsoleSessions
from meterflow.domain.console_sessions import CSRF_FIELD, SESSION_COOKIE, SIGN_IN_COOKIE, new_secret, same_token
from meterflow.domain.errors import FieldError
from services.gateway.web.console.rendering import refusal_page
from services.gateway.web.console.session import (
    PATH,
    FormRefused,
    console_route,
    console_sessions,
    forget_cookie,
    posted_form,
    read_form,
    set_cookie,
    to_sign_in,
)
from services.gateway.web.templates import page

router = APIRouter(prefix=PATH, route_class=console_route(refusal_page))
SIGN_IN_FORM_S = 3_600


def _sign_in_page(request: Request, refusal: str | None = None, status_code: int = 200) -> Response:
    """The form, with a fresh token that is also set as a cookie: the POST must bring both (double submit)."""
    token = new_secret()
    response = page(request, "console/login.html", {"csrf_token": token, "refusal": refusal},
                    status_code=status_code)
    set_cookie(response, request, SIGN_IN_COOKIE, token, SIGN_IN_FORM_S)
    return response


@router.get("/login")
async def sign_in_page(request: Request, sessions: ConsoleSessions = Depends(console_sessions)) -> Response:
    if await sessions.session(request.cookies.get(SESSION_COOKIE)) is not None:
        return RedirectResponse(PATH, status_code=303)
    return _sign_in_page(request)


@router.post("/login")
async def sign_in(request: Request, sessions: ConsoleSessions = Depends(console_sessions)) -> Response:
    form = await read_form(request)
    if not same_token(request.cookies.get(SIGN_IN_COOKIE), form.get(CSRF_FIELD)):
        raise FormRefused
    try:
        session_id, _ = await sessions.sign_in(form.get("api_key", ""))
    except FieldError as refused:
        return _sign_in_page(request, refused.message, status_code=403)
    response = RedirectResponse(PATH, status_code=303)
    set_cookie(response, request, SESSION_COOKIE, session_id, int(sessions.lifetime.total_seconds()))
    forget_cookie(response, request, SIGN_IN_COOKIE)
    return response


@router.post("/logout")
async def sign_out(request: Request, _: dict[str, str] = Depends(posted_form),
                   sessions: ConsoleSessions = Depends(console_sessions)) -> Response:
    await sessions.sign_out(request.cookies.get(SESSION_COOKIE))
    response = to_sign_in()
    forget_cookie(response, request, SESSION_COOKIE)
    return response

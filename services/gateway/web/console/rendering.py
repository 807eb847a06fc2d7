"""How console pages answer: the kit's `page()` with the session's values every console template needs, and
the pages of what the console refuses (a form without its token, a missing object, an invalid field)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request, Response
from fastapi.responses import HTMLResponse
from pydantic import TypeAdapter, ValidationError

from meterflow.domain.console_sessions import ConsoleSession
from meterflow.domain.errors import FieldError, MeterflowError
from meterflow.domain.inputs import Timestamp
from services.gateway.errors import http_status
from services.gateway.web.console.session import FormRefused
from services.gateway.web.templates import page

_TIMESTAMP = TypeAdapter(Timestamp)


def console_page(request: Request, template: str, session: ConsoleSession, current: str,
                 values: Mapping[str, Any], *, status_code: int = 200) -> HTMLResponse:
    """`templates/console/<template>` with the signed-in mode, the CSRF token and the nav entry `current`."""
    shown = {"session": session, "csrf_token": session.csrf_token, "current": current, **values}
    return page(request, f"console/{template}", shown, status_code=status_code)


def hourly_span(hours: Sequence[datetime]) -> tuple[datetime, datetime] | None:
    """The time axis of an hourly plot: its first hour to the end of its last (each bar starts at its hour)."""
    return (hours[0], hours[-1] + timedelta(hours=1)) if hours else None


def refusal_page(request: Request, error: Exception) -> Response | None:
    if isinstance(error, FormRefused):
        return page(request, "error.html", {"heading": "Form refused", "message": "This form has no valid CSRF "
                                            "token (it was not sent by this console session): nothing was done."},
                    status_code=403)
    if isinstance(error, MeterflowError):
        message = f"{error.param}: {error.message}" if isinstance(error, FieldError) and error.param else error.message
        return page(request, "error.html", {"heading": "Refused", "message": message},
                    status_code=http_status(error))
    return None


def timestamp_field(form: Mapping[str, str], name: str) -> Any:
    """An RFC 3339 form field, checked like the API's timestamps (a `FieldError` naming it otherwise)."""
    try:
        return _TIMESTAMP.validate_python(form.get(name, ""))
    except ValidationError as error:
        raise FieldError(name, error.errors()[0]["msg"]) from None


def count_field(value: str, name: str, most: int) -> int | None:
    """An optional whole number `0..most` from a query (blank: None)."""
    if not value:
        return None
    if not value.isdigit() or int(value) > most:
        raise FieldError(name, f"must be a whole number from 0 to {most}")
    return int(value)

"""Events on record (search by key, customer, name), replay jobs (list, start one), webhook endpoints and their
deliveries (retry one). Replays and retries go through the use cases the API's routes call."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from meterflow.application.console_overview import WINDOW_HOURS, failed_per_endpoint
from meterflow.application.replay import start_replay
from meterflow.application.webhook_delivery import retry_now
from meterflow.application.webhook_endpoints import WebhookEndpoints
from meterflow.domain.console_sessions import ConsoleSession
from meterflow.domain.errors import FieldError
from meterflow.domain.event_record import EventFilter
from services.gateway.context import GatewayContext, context
from services.gateway.routes_webhooks import endpoints
from services.gateway.web.console.rendering import console_page, refusal_page, timestamp_field
from services.gateway.web.console.session import PATH, console_route, posted_form, signed_in

router = APIRouter(prefix=PATH, route_class=console_route(refusal_page))
EVENTS_A_PAGE = 25
MAX_LISTED = 100


@router.get("/events")
async def events(request: Request, key: str = "", customer: str = "", name: str = "", after: str = "",
                 session: ConsoleSession = Depends(signed_in), ctx: GatewayContext = Depends(context)) -> Response:
    wanted = {"key": key.strip(), "customer": customer.strip(), "name": name.strip()}
    found = EventFilter(wanted["customer"] or None, (wanted["name"],) if wanted["name"] else None,
                        wanted["key"] or None, None, None)
    page, more = await ctx.stores.event_records.page(session.mode, found, EVENTS_A_PAGE, after or None)
    next_events = f"{PATH}/events?{urlencode({**wanted, 'after': page[-1].idempotency_key})}" if more and page else None
    return console_page(request, "events.html", session, "events",
                        {"events": page, "wanted": wanted, "next_events": next_events, "refusal": None})


async def _replays(request: Request, session: ConsoleSession, ctx: GatewayContext, form: dict[str, str],
                   refusal: str | None = None, done: str | None = None) -> Response:
    jobs = await ctx.stores.replay_jobs.jobs(session.mode, MAX_LISTED)
    return console_page(request, "replays.html", session, "replays",
                        {"jobs": jobs, "form": form, "refusal": refusal, "done": done},
                        status_code=400 if refusal else 200)


@router.get("/replays")
async def replays(request: Request, started: str = "", session: ConsoleSession = Depends(signed_in),
                  ctx: GatewayContext = Depends(context)) -> Response:
    return await _replays(request, session, ctx, {}, done=f"Replay {started} started." if started else None)


@router.post("/replays")
async def start(request: Request, session: ConsoleSession = Depends(signed_in),
                form: dict[str, str] = Depends(posted_form), ctx: GatewayContext = Depends(context)) -> Response:
    """Refused fields re-render the form with what was typed and the reason."""
    try:
        job = await start_replay(ctx.stores.replay_jobs, session.mode, timestamp_field(form, "from"),
                                 timestamp_field(form, "to"), form.get("event_name", "").strip() or None,
                                 timedelta(seconds=ctx.settings.event_record_retention_s))
    except FieldError as refused:
        return await _replays(request, session, ctx, form, f"{refused.param}: {refused.message}")
    return RedirectResponse(f"{PATH}/replays?{urlencode({'started': job.id})}", status_code=303)


@router.get("/webhooks")
async def webhooks(request: Request, session: ConsoleSession = Depends(signed_in),
                   ctx: GatewayContext = Depends(context)) -> Response:
    listed, _ = await ctx.stores.webhook_endpoints.endpoints(session.mode, MAX_LISTED, None)
    since = ctx.clock.now() - timedelta(hours=WINDOW_HOURS)
    failed = failed_per_endpoint(await ctx.stores.webhook_deliveries.failed_attempts(session.mode, since))
    return console_page(request, "webhooks.html", session, "webhooks", {"endpoints": listed, "failed": failed})


@router.get("/webhooks/{endpoint_id}")
async def endpoint(request: Request, endpoint_id: str, done: str = "", session: ConsoleSession = Depends(signed_in),
                   use_case: WebhookEndpoints = Depends(endpoints), ctx: GatewayContext = Depends(context)) -> Response:
    shown = await use_case.endpoint(session.mode, endpoint_id)
    deliveries, _ = await ctx.stores.webhook_deliveries.deliveries(session.mode, endpoint_id, MAX_LISTED, None)
    return console_page(request, "endpoint.html", session, "webhooks", {
        "endpoint": shown, "deliveries": deliveries,
        "done": "Delivery due now: the webhook worker sends it again at once." if done == "retry" else None})


@router.post("/webhook_deliveries/{delivery_id}/retry")
async def retry(delivery_id: str, session: ConsoleSession = Depends(signed_in), _: object = Depends(posted_form),
                ctx: GatewayContext = Depends(context)) -> Response:
    delivery = await retry_now(ctx.stores.webhook_deliveries, session.mode, delivery_id, ctx.clock.now())
    return RedirectResponse(f"{PATH}/webhooks/{delivery.endpoint_id}?done=retry", status_code=303)

"""The `meterflow` command: run everything, run one service, and the ops commands."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING

import typer

from meterflow.clock import Clock, SystemClock
from meterflow.domain.modes import Mode
from meterflow.heap import GATEWAY_YOUNG_THRESHOLD, tune_for_serving
from meterflow.settings import get_settings

if TYPE_CHECKING:
    from fastapi import FastAPI

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
keys = typer.Typer(no_args_is_help=True, help="API keys (printed once, stored only as hashes).")
app.add_typer(keys, name="keys")


@lru_cache(maxsize=1)
def clock() -> Clock:
    """The one clock of a CLI process; every command reads the time through it."""
    return SystemClock()


def _configure_logging(service: str) -> None:
    from meterflow.logs import configure_logging

    configure_logging(get_settings().log_level, service)


@app.command()
def run(scale: str = typer.Option("", "--scale", metavar="SERVICE=N,…",
                                  help="processes of each service, e.g. gateway=2,processor=3,closer=2 "
                                       "(one of each not named)")) -> None:
    """Start the embedded stack and all services in the foreground (the README's first command)."""
    from services.supervisor import run as supervise
    from services.topology import ScaleError, parse_scale

    try:
        counts = parse_scale(scale)
    except ScaleError as exc:
        raise typer.BadParameter(str(exc), param_hint="--scale") from exc
    raise typer.Exit(supervise(get_settings(), counts))


@app.command()
def gateway() -> None:
    """Serve the HTTP API."""
    import uvicorn

    from services.gateway.app import create_app
    from services.gateway.server import uvicorn_options

    settings = get_settings()
    _configure_logging("gateway")
    options = uvicorn_options(settings)
    tune_for_serving(GATEWAY_YOUNG_THRESHOLD)
    if settings.gateway_workers > 1:
        # N processes on one socket (uvicorn's supervisor): each builds its own clients in its lifespan,
        # and the gateway keeps no state of its own, so any worker may take any request.
        uvicorn.run("services.cli:gateway_app", factory=True, workers=settings.gateway_workers, **options)
    else:
        uvicorn.run(create_app(settings), **options)


def gateway_app() -> FastAPI:
    """One gateway worker's app, when `MF_GATEWAY_WORKERS` > 1 (uvicorn imports it in each worker)."""
    from services.gateway.app import create_app
    from services.lifecycle import die_with_parent

    # A worker outlives a gateway killed with SIGKILL otherwise, holding the API port, so the gateway
    # restarted in its place could not listen; told to stop instead, it finishes its requests and exits.
    die_with_parent()
    _configure_logging("gateway")
    app = create_app(get_settings())
    tune_for_serving(GATEWAY_YOUNG_THRESHOLD)
    return app


@app.command()
def processor() -> None:
    """Run the stream processor (dedupe and rollups)."""
    from services.processor.app import run_worker

    run_worker(get_settings())


@app.command()
def closer() -> None:
    """Run the period-close worker."""
    from services.closer.worker import run_forever

    _configure_logging("closer")
    asyncio.run(run_forever(get_settings(), clock()))


@app.command()
def webhooks() -> None:
    """Run the webhook delivery worker."""
    from services.webhooks.worker import run_forever

    _configure_logging("webhooks")
    asyncio.run(run_forever(get_settings(), clock()))


@app.command()
def payments() -> None:
    """Run the payment worker (charges, verification of unknown outcomes, dunning)."""
    from services.payments.worker import run_forever

    _configure_logging("payments")
    asyncio.run(run_forever(get_settings(), clock()))


@app.command()
def topics() -> None:
    """Create the events and dead-letter topics if missing."""
    from meterflow.adapters.kafka import ensure_topics
    from services.wiring import kafka_setup

    asyncio.run(ensure_topics(kafka_setup(get_settings())))


@app.command()
def migrate() -> None:
    """Apply database migrations."""
    from meterflow.migrations import upgrade_to_head

    upgrade_to_head(get_settings().database_dsn)


class ModeOption(StrEnum):
    test = "test"
    live = "live"


# Commands that take an object's id find its mode from the object; `--mode` is an optional check.
_MODE_CHECK = "optional: the object's mode is found from its id; if given, it must be this one"


def _mode(option: ModeOption | None) -> Mode | None:
    return Mode(option.value) if option else None


def _timestamp(value: str | None) -> datetime:
    if value is None:
        return clock().now()
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


@app.command("close-periods")
def close_periods(
    as_of: str | None = typer.Option(None, "--as-of", help="close every period with end + grace <= this "
                                     "RFC 3339 time (default: now); earlier = backfill"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print what would be invoiced; write nothing"),
    subscription: str | None = typer.Option(None, "--subscription", help="only this subscription"),
) -> None:
    """Close due billing periods: one finalized invoice per subscription and period, exactly once."""
    from services.ops import close_periods as run_close

    cutoff = _timestamp(as_of)
    if cutoff > clock().now():
        raise _fail("--as-of is in the future: a period is closed only after it has ended (plus grace)")
    try:
        code = asyncio.run(run_close(get_settings(), clock(), cutoff, dry_run, subscription))
    except Exception as exc:
        raise _fail(f"{type(exc).__name__}: {exc}") from exc
    raise typer.Exit(code)


@app.command("close-failures")
def close_failures(limit: int = typer.Option(100, "--limit")) -> None:
    """List due periods the closer skipped, with why (tried again every run; cleared once closed)."""
    from services.ops import list_close_failures

    asyncio.run(list_close_failures(get_settings(), limit))


@app.command("late-events")
def late_events(since: str | None = typer.Option(None, "--since", help="detected at or after (RFC 3339)"),
                limit: int = typer.Option(100, "--limit")) -> None:
    """List events that arrived for periods already finalized (kept in usage, not on that invoice)."""
    from services.ops import list_late_events

    asyncio.run(list_late_events(get_settings(), _timestamp(since) if since else None, limit))


@app.command()
def reinvoice(invoice_id: str = typer.Argument(..., help="a void invoice whose period should be billed again"),
              mode: ModeOption | None = typer.Option(None, "--mode", help=_MODE_CHECK)) -> None:
    """Bill a voided invoice's period again with current usage (a new finalized invoice)."""
    from services.ops import reinvoice as run_reinvoice

    try:
        code = asyncio.run(run_reinvoice(get_settings(), clock(), invoice_id, _mode(mode)))
    except Exception as exc:
        raise _fail(f"{type(exc).__name__}: {exc}") from exc
    raise typer.Exit(code)


@app.command("wallet-overdraft")
def wallet_overdraft(wallet_id: str = typer.Argument(..., help="the wallet, by id"),
                     limit: str = typer.Argument(..., help="how far below zero, e.g. 500.00; 0 for none")) -> None:
    """Allow a wallet's balance to go below zero, down to -LIMIT (docs/wallets.md)."""
    from services.ops import allow_overdraft

    raise typer.Exit(asyncio.run(allow_overdraft(get_settings(), clock(), wallet_id, limit)))


class ScopeOption(StrEnum):
    FULL = "full"
    INGEST = "ingest"


@keys.command("create")
def create_key(mode: ModeOption = typer.Option(..., "--mode", help="test or live"),
               scope: ScopeOption = typer.Option(ScopeOption.FULL, "--scope",
                                                 help="full, or ingest: only POST /v1/ingest")) -> None:
    """Create an API key and print it alone on stdout."""
    from meterflow.domain.api_keys import KeyScope
    from meterflow.domain.modes import Mode
    from services.key_ops import create_api_key

    print(asyncio.run(create_api_key(get_settings(), Mode(mode.value), KeyScope(scope.value))))


@keys.command("list")
def list_keys() -> None:
    """Every key: id, mode, scope, created, revoked (the keys themselves are never stored)."""
    from meterflow.domain.events import format_timestamp
    from services.key_ops import list_api_keys

    for key in asyncio.run(list_api_keys(get_settings())):
        revoked = f"revoked {format_timestamp(key.revoked_at)}" if key.revoked_at else "active"
        print(f"{key.id}\t{key.mode}\t{key.scope}\t{format_timestamp(key.created_at)}\t{revoked}")


@keys.command("revoke")
def revoke_key(key_id: str = typer.Argument(..., help="the key's id, from `meterflow keys list`")) -> None:
    """Revoke a key: refused by every gateway within MF_API_KEY_CACHE_S seconds."""
    from services.key_ops import revoke_api_key

    if not asyncio.run(revoke_api_key(get_settings(), key_id)):
        raise _fail(f"no active key {key_id!r}")
    print(f"revoked {key_id}")


@app.command()
def explain(invoice_id: str = typer.Argument(..., help="the invoice to explain"),
            mode: ModeOption | None = typer.Option(None, "--mode", help=_MODE_CHECK)) -> None:
    """Each line's quantity recomputed from the events on record, beside the invoice's, and the unbilled
    usage around its period; exit 1 on a mismatch."""
    from services.record_ops import explain_invoice

    try:
        code = asyncio.run(explain_invoice(get_settings(), clock(), invoice_id, _mode(mode)))
    except Exception as exc:
        raise _fail(f"{type(exc).__name__}: {exc}") from exc
    raise typer.Exit(code)


@app.command()
def backfill(source: str = typer.Argument(..., help="newline-delimited events, or - for stdin"),
             mode: ModeOption = typer.Option(..., "--mode")) -> None:
    """Count events older than the acceptance window exactly once (a key already on record is a duplicate);
    safe to interrupt and to re-run. Exit 1 when any line was rejected."""
    from services.record_ops import backfill_file

    try:
        code = asyncio.run(backfill_file(get_settings(), clock(), Mode(mode.value), source))
    except Exception as exc:
        raise _fail(f"{type(exc).__name__}: {exc}") from exc
    raise typer.Exit(code)


@app.command()
def reconcile(mode: ModeOption = typer.Option(..., "--mode"),
              start: str | None = typer.Option(None, "--from", help="first hour (RFC 3339, a whole hour); "
                                               "default 24 hours before --to"),
              end: str | None = typer.Option(None, "--to", help="hour after the last (whole hour); default the "
                                             "end of the current hour"),
              acknowledge_loss: bool = typer.Option(False, "--acknowledge-loss", help="ops have seen the lost "
                                                    "events: readiness and meterflow_events_lost stop reporting "
                                                    "them (the figures keep them)")) -> None:
    """Per hour of receipt: acknowledged = counted + duplicates + dead_lettered + lost + in_flight. Exit 1
    when a past hour still has events in flight beyond the stall threshold, or lost events are not
    acknowledged."""
    from meterflow.domain.errors import FieldError
    from services.accounting_ops import reconcile as run_reconcile

    try:
        code = asyncio.run(run_reconcile(get_settings(), clock(), Mode(mode.value),
                                         _timestamp(start) if start else None, _timestamp(end) if end else None,
                                         acknowledge_loss))
    except FieldError as exc:
        raise _fail(f"--{exc.param}: {exc.message}") from exc
    except (ValueError, OverflowError) as exc:
        raise _fail(f"--from/--to: {exc} (RFC 3339, a whole hour, e.g. 2026-02-25T10:00:00Z)") from exc
    raise typer.Exit(code)

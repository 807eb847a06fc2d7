"""The `meterflow` command: run everything, run one service, and the ops commands."""

from __future__ import annotations

import asyncio
import logging
from enum import StrEnum

import typer

from meterflow.settings import get_settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
keys = typer.Typer(no_args_is_help=True, help="API keys (printed once, stored only as hashes).")
app.add_typer(keys, name="keys")


def _configure_logging() -> None:
    logging.basicConfig(level=get_settings().log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")


@app.command()
def run() -> None:
    """Start the embedded stack and all services in the foreground (the README's first command)."""
    from meterflow.supervisor import run as supervise

    raise typer.Exit(supervise(get_settings()))


@app.command()
def gateway() -> None:
    """Serve the HTTP API."""
    import uvicorn

    from meterflow.gateway.app import create_app

    settings = get_settings()
    _configure_logging()
    uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port,
                log_level=settings.log_level.lower(), access_log=False)


@app.command()
def processor() -> None:
    """Run the stream processor (dedupe and rollups)."""
    from meterflow.processor.app import run_worker

    run_worker(get_settings())


@app.command()
def closer() -> None:
    """Run the period-close worker."""
    from meterflow.closer.worker import run_forever

    _configure_logging()
    asyncio.run(run_forever(get_settings()))


@app.command()
def migrate() -> None:
    """Apply database migrations."""
    from meterflow.migrations import upgrade_to_head

    upgrade_to_head(get_settings().database_dsn)


class ModeOption(StrEnum):
    test = "test"
    live = "live"


@keys.command("create")
def create_key(mode: ModeOption = typer.Option(..., "--mode", help="test or live")) -> None:
    """Create an API key and print it alone on stdout."""
    from meterflow.domain.modes import Mode
    from meterflow.keys import create_api_key

    print(asyncio.run(create_api_key(get_settings(), Mode(mode.value))))

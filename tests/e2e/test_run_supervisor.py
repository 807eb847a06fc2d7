"""`meterflow run` (the README's first command): everything up, then SIGTERM leaves no process and no port."""

from __future__ import annotations

import os
import signal
import time

import httpx

from tests.meterflow_run import MeterflowRun, children_of, listening


def test_run_starts_everything_and_sigterm_stops_every_child() -> None:
    run = MeterflowRun()
    try:
        banner = run.start()
        assert run.api_url in banner, banner
        ready = httpx.get(f"{run.api_url}/readyz", timeout=5)
        assert ready.status_code == 200, ready.text
        assert run.process is not None
        children = children_of(run.process.pid)
        assert len(children) >= 8  # three servers and five services
        for worker in ("WEBHOOK_WEB_PORT", "PAYMENTS_WEB_PORT"):  # the webhook and payment workers
            url = f"http://127.0.0.1:{run.ports[worker]}/readyz"
            deadline = time.monotonic() + 30
            while not _answers(url) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert _answers(url), f"the worker on {worker} is not running"

        run.process.send_signal(signal.SIGTERM)
        status, stderr = run.wait(timeout_s=60)
        assert status == 0, stderr
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(os.path.exists(f"/proc/{c}") for c in children):
            time.sleep(0.1)
        assert not [c for c in children if os.path.exists(f"/proc/{c}")], "orphans left behind"
        assert not [p for p in run.ports.values() if listening(p)], "ports still held"
    finally:
        run.end()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False

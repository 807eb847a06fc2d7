"""Console pages that read beyond Postgres: the dead letters of the console's mode read back from their topic,
and a replay started from its form (a refused window re-renders the form with the reason)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from meterflow.adapters.kafka import start_producer
from meterflow.settings import Settings
from tests.e2e.console_client import signed_in
from tests.support import ServiceProcess, eventually, unique


@pytest.fixture
async def console(settings: Settings, gateway: ServiceProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.api_port}", timeout=30) as client:
        yield client


async def test_a_poison_record_shows_on_the_dead_letters_page_of_its_mode_only(
        console: httpx.AsyncClient, api: httpx.AsyncClient, settings: Settings, test_key: str,
        live_key: str) -> None:
    marker = unique("poison")
    producer = await start_producer(settings)
    try:
        await producer.send_and_wait(settings.events_topic_test, f"not json {marker}".encode(), key=marker.encode())
    finally:
        await producer.stop()
    await signed_in(console, test_key)
    page = await eventually(lambda: console.get("/console/dead_letters"), lambda r: marker in r.text, timeout_s=30)
    assert page.status_code == 200 and "not_json" in page.text
    assert "Dead letters per hour of receipt, last 24 h" in page.text

    console.cookies.clear()
    await signed_in(console, live_key)
    assert marker not in (await console.get("/console/dead_letters")).text


async def test_a_replay_is_started_from_its_form_and_a_refused_window_says_why(
        console: httpx.AsyncClient, api: httpx.AsyncClient, test_key: str) -> None:
    token = await signed_in(console, test_key)
    refused = await console.post("/console/replays", data={"csrf_token": token, "from": "2026-12-05T10:00:00Z",
                                                           "to": "2026-12-05T09:00:00Z"})
    assert refused.status_code == 400 and "to: must be after from" in refused.text
    assert 'value="2026-12-05T10:00:00Z"' in refused.text  # what was typed is kept
    name = unique("replayed")
    started = await console.post("/console/replays", data={"csrf_token": token, "from": "2026-12-05T09:00:00Z",
                                                           "to": "2026-12-05T10:00:00Z", "event_name": name})
    assert started.status_code == 303
    listed = await console.get(started.headers["location"])
    assert "started." in listed.text and name in listed.text

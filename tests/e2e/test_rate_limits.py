"""Requests per API key per second: past the limit a key is answered 429 with Retry-After and Monigo's
`rate_limit_error` (its clients' `IsRateLimited`), while another key in the same second is served."""

from __future__ import annotations

import time

import httpx

from meterflow.domain.modes import Mode
from meterflow.settings import Settings
from services.devstack.embedded import free_port
from services.key_ops import create_api_key
from tests.support import ServiceProcess

LIMIT = 5


async def test_a_key_past_its_limit_is_refused_with_429_while_another_key_is_served(settings: Settings) -> None:
    port = free_port()
    noisy, quiet = await create_api_key(settings, Mode.TEST), await create_api_key(settings, Mode.TEST)
    with ServiceProcess.running("gateway", settings, api_port=port, api_rate_limit_per_s=LIMIT):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            started = time.time()
            answers = [await client.get("/v1/customers", headers={"Authorization": f"Bearer {noisy}"})
                       for _ in range(4 * LIMIT)]
            seconds = int(time.time()) - int(started) + 1
            served_quietly = await client.get("/v1/customers", headers={"Authorization": f"Bearer {quiet}"})
    statuses = [a.status_code for a in answers]
    assert set(statuses) == {200, 429} and statuses.count(200) <= LIMIT * seconds, statuses
    refused = next(a for a in answers if a.status_code == 429)
    assert refused.headers["Retry-After"] == "1" and refused.json()["type"] == "rate_limit_error"
    assert refused.json()["param"] == "Authorization"
    assert served_quietly.status_code == 200

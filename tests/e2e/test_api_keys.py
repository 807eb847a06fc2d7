"""Key scopes and revocation through the CLI and the running gateway (docs/api.md: `keys create --scope`,
`keys list`, `keys revoke`; an ingest key gets 403 elsewhere; a revoked key is 401 within seconds even
on a gateway that has it cached)."""

from __future__ import annotations

import httpx

from meterflow.settings import Settings
from tests.e2e.period_tools import meterflow
from tests.e2e.scenario import billing_setup, event
from tests.support import eventually


def created_key(settings: Settings, *args: str) -> str:
    made = meterflow(settings, "keys", "create", "--mode", "test", *args)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def client(api: httpx.AsyncClient, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=str(api.base_url), headers={"Authorization": f"Bearer {key}"})


async def test_an_ingest_key_ingests_and_is_forbidden_everything_else(api: httpx.AsyncClient,
                                                                      settings: Settings) -> None:
    setup = await billing_setup(api)
    key = created_key(settings, "--scope", "ingest")
    async with client(api, key) as ingest_only:
        answer = await ingest_only.post("/v1/ingest", json={"events": [event(setup)]})
        assert answer.status_code == 202 and len(answer.json()["ingested"]) == 1, answer.text
        for method, path in (("GET", "/v1/customers"), ("GET", f"/v1/customers/{setup.customer_id}"),
                             ("POST", "/v1/invoices/generate"), ("GET", "/v1/usage")):
            refused = await ingest_only.request(method, path, json={})
            assert refused.status_code == 403, (path, refused.text)
            assert refused.json()["type"] == "permission_error" and isinstance(refused.json()["error"], str)


async def test_a_revoked_key_is_refused_within_seconds_even_when_cached(api: httpx.AsyncClient,
                                                                       settings: Settings) -> None:
    key = created_key(settings)
    async with client(api, key) as holder:
        assert (await holder.get("/v1/customers")).status_code == 200  # now cached by the gateway
        listing = meterflow(settings, "keys", "list")
        assert listing.returncode == 0, listing.stderr
        key_id, mode, scope, _, state = listing.stdout.strip().splitlines()[-1].split("\t")
        assert (mode, scope, state) == ("test", "full", "active")
        revoked = meterflow(settings, "keys", "revoke", key_id)
        assert revoked.returncode == 0, revoked.stderr
        answer = await eventually(lambda: holder.get("/v1/customers"), lambda r: r.status_code == 401,
                                  timeout_s=settings.api_key_cache_s + 5)
        assert answer.json()["type"] == "authentication_error"
    assert "revoked" in meterflow(settings, "keys", "list").stdout.strip().splitlines()[-1]
    assert meterflow(settings, "keys", "revoke", key_id).returncode != 0  # already revoked

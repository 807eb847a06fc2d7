"""The ops console's doors: who may sign in, what a session cookie is, that a form without its CSRF token
does nothing, that console pages are never framed, and that a console sees only its key's mode."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.postgres import Pool
from meterflow.domain.api_keys import KeyScope, hash_api_key, new_api_key
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.modes import Mode
from meterflow.settings import Settings
from services.key_ops import create_api_key, revoke_api_key
from tests.e2e.console_client import csrf_token, sign_in, signed_in
from tests.e2e.scenario import billing_setup, created, the
from tests.support import ServiceProcess, eventually, unique


@pytest.fixture
async def console(settings: Settings, gateway: ServiceProcess) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client of the console: keeps cookies, follows no redirect."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.api_port}", timeout=30) as client:
        yield client


def _cookie_header(answer: httpx.Response, name: str) -> str:
    return next(h for h in answer.headers.get_list("set-cookie") if h.startswith(f"{name}="))


async def test_a_full_scope_key_signs_in_with_a_strict_http_only_session_cookie(
        console: httpx.AsyncClient, test_key: str) -> None:
    answer = await sign_in(console, test_key)
    assert answer.status_code == 303 and answer.headers["location"] == "/console"
    cookie = _cookie_header(answer, "mf_console").lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/console" in cookie
    assert "secure" not in cookie  # served over plain http here
    overview = await console.get("/console")
    assert overview.status_code == 200 and "test mode" in overview.text


async def test_the_cookie_is_secure_when_served_over_https(console: httpx.AsyncClient, test_key: str) -> None:
    form = await console.get("/console/login", headers={"X-Forwarded-Proto": "https"})
    assert "secure" in _cookie_header(form, "mf_console_sign_in").lower()
    # A client does not send a Secure cookie over plain http: hand it over as a browser behind TLS would.
    cookie = f"mf_console_sign_in={form.cookies['mf_console_sign_in']}"
    answer = await console.post("/console/login", headers={"X-Forwarded-Proto": "https", "Cookie": cookie},
                                data={"csrf_token": csrf_token(form), "api_key": test_key})
    assert answer.status_code == 303
    assert "; secure" in _cookie_header(answer, "mf_console").lower()


async def test_an_ingest_scoped_or_unknown_key_cannot_sign_in(console: httpx.AsyncClient,
                                                              settings: Settings) -> None:
    ingest_key = await create_api_key(settings, Mode.LIVE, KeyScope.INGEST)
    refused = await sign_in(console, ingest_key)
    assert refused.status_code == 403 and "ingest-scoped" in refused.text
    assert "mf_console=" not in refused.headers.get("set-cookie", "")
    unknown = await sign_in(console, "mk_live_" + unique("nokey"))
    assert unknown.status_code == 403 and "unknown or revoked" in unknown.text
    assert (await console.get("/console")).headers["location"] == "/console/login"


async def test_a_sign_in_without_the_forms_token_is_refused(console: httpx.AsyncClient, test_key: str) -> None:
    await console.get("/console/login")  # the cookie half of the pair, without its form half
    refused = await console.post("/console/login", data={"api_key": test_key})
    assert refused.status_code == 403
    assert "mf_console=" not in refused.headers.get("set-cookie", "")


async def test_pages_need_a_session_and_are_never_framed(console: httpx.AsyncClient, test_key: str) -> None:
    for path in ("/console", "/console/customers", "/console/events", "/console/webhooks"):
        answer = await console.get(path)
        assert answer.status_code == 303 and answer.headers["location"] == "/console/login", path
    await signed_in(console, test_key)
    for path in ("/console/login", "/console", "/console/customers", "/console/reconciliation", "/console/replays"):
        answer = await console.get(path)
        assert answer.headers["x-frame-options"] == "DENY", path
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"], path


async def test_an_action_without_its_csrf_token_does_nothing(console: httpx.AsyncClient, api: httpx.AsyncClient,
                                                             test_key: str) -> None:
    setup = await billing_setup(api)
    draft = the(await api.post("/v1/invoices/generate", json={"subscription_id": setup.subscription_id}),
                "invoice", 201)
    token = await signed_in(console, test_key)
    for data in ({}, {"csrf_token": token + "x"}, {"csrf_token": ""}):
        refused = await console.post(f"/console/invoices/{draft['id']}/finalize", data=data)
        assert refused.status_code == 403 and refused.headers["x-frame-options"] == "DENY"
    assert the(await api.get(f"/v1/invoices/{draft['id']}"), "invoice")["status"] == "draft"
    done = await console.post(f"/console/invoices/{draft['id']}/finalize", data={"csrf_token": token})
    assert done.status_code == 303
    assert the(await api.get(f"/v1/invoices/{draft['id']}"), "invoice")["status"] == "finalized"


async def test_a_console_sees_only_its_keys_mode(console: httpx.AsyncClient, settings: Settings, test_key: str,
                                                 live_key: str) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.api_port}",
                                 headers={"Authorization": f"Bearer {live_key}"}, timeout=30) as live:
        live_customer = await created(await live.post("/v1/customers", json={"external_id": unique("live"),
                                                                              "name": "Live only"}))
        setup = await billing_setup(live)
        draft = the(await live.post("/v1/invoices/generate", json={"subscription_id": setup.subscription_id}),
                    "invoice", 201)
        token = await signed_in(console, test_key)
        assert (await console.get(f"/console/invoices/{draft['id']}")).status_code == 404
        refused = await console.post(f"/console/invoices/{draft['id']}/finalize", data={"csrf_token": token})
        assert refused.status_code == 404
        assert the(await live.get(f"/v1/invoices/{draft['id']}"), "invoice")["status"] == "draft"
    assert (await console.get(f"/console/customers/{live_customer['id']}")).status_code == 404
    found = await console.get("/console/customers", params={"q": live_customer["id"]})
    assert found.status_code == 200 and "0 customers matching" in found.text
    assert f'href="/console/customers/{live_customer["id"]}"' not in found.text


async def test_sign_out_and_revoking_the_key_end_the_session(console: httpx.AsyncClient, settings: Settings,
                                                             pool: Pool) -> None:
    key, key_id = new_api_key(Mode.TEST), new_id(IdKind.API_KEY)
    await CatalogRepository(pool).add_api_key(key_id, Mode.TEST, hash_api_key(key))
    token = await signed_in(console, key)
    session = console.cookies.get("mf_console")
    assert (await console.post("/console/logout", data={"csrf_token": token})).status_code == 303
    console.cookies.set("mf_console", session or "", path="/console")
    assert (await console.get("/console")).headers["location"] == "/console/login"

    console.cookies.clear()
    await signed_in(console, key)
    assert await revoke_api_key(settings, key_id)
    await eventually(lambda: console.get("/console"), lambda r: r.status_code == 303, timeout_s=10)


async def test_a_missing_object_or_a_bad_parameter_is_a_page_with_the_apis_status(
        console: httpx.AsyncClient, test_key: str) -> None:
    await signed_in(console, test_key)
    missing = await console.get("/console/invoices/inv_missing")
    assert missing.status_code == 404 and "No such invoice" in missing.text
    assert missing.headers["content-type"].startswith("text/html") and missing.headers["x-frame-options"] == "DENY"
    assert (await console.get("/console/customers/cus_missing")).status_code == 404
    assert (await console.get("/console/webhooks/whe_missing")).status_code == 404
    nul = await console.get("/console/events", params={"key": "a\x00b"})
    assert nul.status_code == 400 and "key" in nul.text

"""The webhook sender against a real HTTP receiver on this machine: a delivery that must reach only public
addresses is refused at connect time when its host resolves to loopback (no DNS change between the
check and the connection can slip through), while the same request without the rule is delivered."""

from __future__ import annotations

from meterflow.adapters.webhook_http import HttpSender
from tests.webhook_receiver import receiving


async def test_a_public_only_post_to_a_host_resolving_to_loopback_is_refused_at_connect_and_sends_nothing() -> None:
    sender = HttpSender(timeout_s=5)
    try:
        async with receiving() as receiver:
            url = f"http://localhost:{receiver.port}/pinned"
            code, error = await sender.post(url, b"{}", {"Content-Type": "application/json"}, public_only=True)
            assert code is None and "no public (globally routable unicast) address" in (error or ""), error
            assert receiver.at("/pinned") == []
            assert await sender.post(url, b"{}", {"Content-Type": "application/json"}, public_only=False) == (200, None)
            assert len(receiver.at("/pinned")) == 1
    finally:
        await sender.aclose()


async def test_a_public_only_post_to_an_address_that_is_not_global_unicast_is_refused_before_connecting() -> None:
    """CGNAT, and link-local behind NAT64: the resolver gives nothing to connect to, so nothing is sent."""
    sender = HttpSender(timeout_s=5)
    try:
        for url in ("http://100.64.0.1:9/hook", "http://[64:ff9b::a9fe:a9fe]:9/hook", "http://[ff0e::1]:9/hook"):
            code, error = await sender.post(url, b"{}", {"Content-Type": "application/json"}, public_only=True)
            assert code is None and "no public (globally routable unicast) address" in (error or ""), (url, error)
    finally:
        await sender.aclose()

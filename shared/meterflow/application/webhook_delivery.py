"""Delivering webhook events: claim the due deliveries, POST each with both signatures, record the
attempt and what follows it (domain `outcome_of`: succeeded, retried on the schedule, or failed).

Run by the delivery worker (services/webhooks) in a loop; several workers may run at once (the claim is
`SKIP LOCKED` and leased, adapters/webhook_delivery_repository.py). At least once: a worker killed after
sending but before recording leaves the lease to expire, and the delivery is sent again with the same
event id; receivers deduplicate by it. One endpoint's deliveries are sent one after another in event
order; different endpoints are served concurrently, so one slow receiver holds back only itself.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from meterflow.application.ports.webhooks import DeliveryStore, Resolver, WebhookSender
from meterflow.clock import Clock
from meterflow.domain.errors import NotFound
from meterflow.domain.modes import Mode
from meterflow.domain.webhooks import (
    Attempt,
    AttemptOutcome,
    Delivery,
    DueDelivery,
    address_fault,
    error_text,
    event_body,
    outcome_of,
    signed_headers,
)

RECORD_BATCH = 25


@dataclass(frozen=True)
class WebhookDelivery:
    deliveries: DeliveryStore
    sender: WebhookSender
    resolver: Resolver
    clock: Clock
    schedule_s: tuple[float, ...]
    timeout_s: float
    lease_s: float
    allow_private: bool
    batch: int = 200

    async def deliver_due(self) -> list[AttemptOutcome]:
        """Claim the due deliveries and attempt each once, every endpoint's run at once; the outcomes."""
        done = await asyncio.gather(*(self.send_in_order(run) for run in await self.claim_runs()))
        return [outcome for outcomes in done for outcome in outcomes]

    async def claim_runs(self, limit: int | None = None) -> list[list[DueDelivery]]:
        """Claim up to `limit` (default `batch`) due deliveries, grouped by endpoint in event order: each
        group is to be sent by `send_in_order`, the groups independently of each other."""
        now = self.clock.now()
        due = await self.deliveries.claim(now, limit or self.batch, now + timedelta(seconds=self.lease_s),
                                          secrets.token_hex(8))
        runs: dict[str, list[DueDelivery]] = {}
        for delivery in due:
            runs.setdefault(delivery.endpoint_id, []).append(delivery)
        return list(runs.values())

    async def send_in_order(self, run: Sequence[DueDelivery]) -> list[AttemptOutcome]:
        """Send one endpoint's deliveries one after another; record their outcomes in batches of
        RECORD_BATCH (a crash before a batch is written sends those again: at least once)."""
        outcomes: list[AttemptOutcome] = []
        recorded = 0
        for index, delivery in enumerate(run):
            if self.clock.now() + timedelta(seconds=self.timeout_s) > delivery.lease_until:
                # Another attempt might outlive the lease and be sent twice by two workers: give the
                # rest back for the next claim.
                await self.deliveries.release([d.id for d in run[index:]], delivery.claim_token)
                break
            outcomes.append(await self._attempt(delivery))
            if len(outcomes) - recorded >= RECORD_BATCH:
                await self.deliveries.record(outcomes[recorded:], self.clock.now())
                recorded = len(outcomes)
        await self.deliveries.record(outcomes[recorded:], self.clock.now())
        return outcomes

    async def _attempt(self, delivery: DueDelivery) -> AttemptOutcome:
        started = self.clock.now()
        refusal = await self._address_refusal(delivery)
        code: int | None
        error: str | None
        if refusal is not None:
            code, error = None, f"not sent: {refusal}"
        else:
            body = event_body(delivery.payload)
            code, error = await self.sender.post(delivery.url, body, signed_headers(delivery.secret, body, started),
                                                 public_only=self._public_only(delivery))
        elapsed_ms = max(0, round((self.clock.now() - started).total_seconds() * 1000))
        attempt = Attempt(delivery.attempts + 1, started, elapsed_ms, code, error_text(error) if error else None)
        return outcome_of(delivery, attempt, self.schedule_s)

    def _public_only(self, delivery: DueDelivery) -> bool:
        return delivery.mode is Mode.LIVE and not self.allow_private

    async def _address_refusal(self, delivery: DueDelivery) -> str | None:
        """Live endpoints are checked again at each delivery: the host may resolve elsewhere by now (and
        the sender connects only to public addresses, so a change after this check is refused too)."""
        if not self._public_only(delivery):
            return None
        host = urlsplit(delivery.url).hostname or ""
        return address_fault(delivery.mode, await self.resolver.addresses(host), self.allow_private)


async def retry_now(store: DeliveryStore, mode: Mode, delivery_id: str, now: datetime) -> Delivery:
    """Due now (the API's "retry"): the next claim sends it again, whatever its state was."""
    delivery = await store.retry_now(mode, delivery_id, now)
    if delivery is None:
        raise NotFound("webhook_delivery", delivery_id)
    return delivery

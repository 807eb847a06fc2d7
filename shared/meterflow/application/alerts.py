"""Alerts (docs/wallets.md, "Alerts"): the API's create, read, change, acknowledge; and `evaluate_alerts`,
the closer's step that fires thresholds.

Evaluation computes every figure first, outside any transaction (usage reads go through the pool), then
in one unit of work inserts the states of the thresholds crossed (the store answers only the rows it
really inserted: its unique key per alert, threshold, subject and period decides, whatever ran before or
runs beside it), re-arms balance thresholds the balance is above again, and records `alert.triggered` for
each new state in the webhook outbox: a state exists exactly when its webhook does. Cost alerts compute
the open period's draft with `compute_invoices`, the invoices' own code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from meterflow.application.invoicing import billed_quantity, compute_invoices
from meterflow.application.isolation import IsTransient, in_isolation
from meterflow.application.ports.alerts import AlertStore, AlertUnitOfWork
from meterflow.application.ports.usage import CatalogReader, UsageReader
from meterflow.application.webhook_outbox import record_webhooks
from meterflow.clock import Clock
from meterflow.domain.alerts import (
    Alert,
    AlertFiring,
    AlertScope,
    AlertType,
    check_target,
    firings,
    rearmed,
    thresholds_of,
)
from meterflow.domain.catalog import Metric, Subscription
from meterflow.domain.errors import Conflict, FieldError, NotFound
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.invoices import InvoiceStatus
from meterflow.domain.modes import Mode
from meterflow.domain.start_allowance import billed_range
from meterflow.domain.usage import UsageQuery
from meterflow.domain.wallets import check_currency
from meterflow.domain.webhooks import EventType

_WALLETS_WATCHED = 100  # a customer has one wallet per currency: far fewer than this


@dataclass(frozen=True)
class Alerts:
    store: AlertStore
    clock: Clock

    async def create(self, mode: Mode, fields: dict[str, Any]) -> Alert:
        alert_type, scope = AlertType(fields["type"]), AlertScope(fields["scope"])
        check_target(alert_type, scope, fields.get("metric_id"))
        if not await self.store.scope_exists(mode, scope, fields["scope_id"]):
            raise NotFound(scope.value, fields["scope_id"], "scope_id")
        if fields.get("metric_id") and not await self.store.metric_exists(mode, fields["metric_id"]):
            raise FieldError("metric_id", f"no metric {fields['metric_id']!r} in this mode")
        now = self.clock.now()
        alert = Alert(new_id(IdKind.ALERT), mode, alert_type, scope, fields["scope_id"], fields.get("metric_id"),
                      check_currency(fields["currency"]) if fields.get("currency") else None,
                      thresholds_of(fields["thresholds"]), bool(fields.get("require_acknowledgment")), True, now, now)
        await self.store.add_alert(alert)
        return alert

    async def alert(self, mode: Mode, alert_id: str) -> Alert:
        found = await self.store.alert(mode, alert_id)
        if found is None:
            raise NotFound("alert", alert_id)
        return found

    async def change(self, mode: Mode, alert_id: str, *, thresholds: list[dict[str, Any]] | None = None,
                     enabled: bool | None = None) -> Alert:
        """Replace the thresholds, or enable or disable the alert."""
        alert = await self.alert(mode, alert_id)
        changed = replace(alert, updated_at=self.clock.now(),
                          thresholds=thresholds_of(thresholds) if thresholds is not None else alert.thresholds,
                          enabled=alert.enabled if enabled is None else enabled)
        await self.store.save_alert(changed)
        return changed

    async def acknowledge(self, mode: Mode, alert_id: str) -> Alert:
        """Every triggered state of the alert becomes acknowledged."""
        alert = await self.alert(mode, alert_id)
        if not any(s.acknowledged_at is None for s in alert.states):
            raise Conflict("This alert has no triggered threshold to acknowledge", "id")
        await self.store.acknowledge(alert.id, self.clock.now())
        return await self.alert(mode, alert_id)

    async def delete(self, mode: Mode, alert_id: str) -> None:
        if not await self.store.delete_alert(mode, alert_id, self.clock.now()):
            raise NotFound("alert", alert_id)


Observation = tuple[Alert, str, datetime | None, Decimal]  # alert, subject, period start (None: a wallet), figure


@dataclass
class AlertRound:
    fired: list[AlertFiring] = field(default_factory=list)
    skipped: list[tuple[Alert, Exception]] = field(default_factory=list)  # could not be observed; next round


async def observe(uow: AlertUnitOfWork, catalog: CatalogReader, usage: UsageReader, alerts: Sequence[Alert],
                  now: datetime) -> list[list[Observation]]:
    """Each figure each alert watches now: a subscription's open-period usage or cost, or a wallet's balance.
    Batched: one usage read for every usage alert's subscriptions, one draft computation for every cost
    alert's, whatever the number of alerts."""
    watched = [(a, [] if a.type is AlertType.WALLET_BALANCE_DROPPED else await uow.alerts.subscriptions_in_scope(a))
               for a in alerts]
    pairs = [(a, s) for a, subscriptions in watched for s in subscriptions]
    figures = await _usage_figures(catalog, usage, [p for p in pairs if p[0].type is AlertType.USAGE_EXCEEDED], now)
    figures |= await _cost_figures(catalog, usage, [p for p in pairs if p[0].type is AlertType.COST_EXCEEDED], now)
    observed: list[list[Observation]] = []
    for alert, subscriptions in watched:
        if alert.type is AlertType.WALLET_BALANCE_DROPPED:
            wallets, _ = await uow.wallets.wallets(alert.mode, alert.scope_id, _WALLETS_WATCHED, None)
            observed.append([(alert, w.id, None, w.balance) for w in wallets if alert.currency in (None, w.currency)])
        else:
            observed.append([(alert, s.id, s.open_period(now).start, figures[(alert.id, s.id)])
                             for s in subscriptions])
    return observed


Watched = Sequence[tuple[Alert, Subscription]]


async def _usage_figures(catalog: CatalogReader, usage: UsageReader, pairs: Watched,
                         now: datetime) -> dict[tuple[str, str], Decimal]:
    """Each subscription's quantity of its alert's metric over the open period, as the invoice would bill it
    (0 for a metric that is gone)."""
    metrics: dict[tuple[Mode, str], Metric] = {}
    for mode in {a.mode for a, _ in pairs}:
        found = await catalog.metrics_by_id(mode, {a.metric_id for a, _ in pairs if a.mode is mode and a.metric_id})
        metrics |= {(mode, metric_id): metric for metric_id, metric in found.items()}
    known = [(a, s, metrics[(a.mode, a.metric_id or "")]) for a, s in pairs if (a.mode, a.metric_id) in metrics]
    read = await usage.usage([UsageQuery(a.mode, m.id, s.customer_id, billed_range(s, s.open_period(now)))
                              for a, s, m in known])
    figures = {(a.id, s.id): Decimal(0) for a, s in pairs}
    figures |= {(a.id, s.id): billed_quantity(m, f) for (a, s, m), f in zip(known, read, strict=True)}
    return figures


async def _cost_figures(catalog: CatalogReader, usage: UsageReader, pairs: Watched,
                        now: datetime) -> dict[tuple[str, str], Decimal]:
    """Each subscription's open-period draft total, computed as the invoice is (0 in another currency
    than the alert's)."""
    drafts = await compute_invoices(catalog, usage, [(s, s.open_period(now)) for _, s in pairs], now,
                                    InvoiceStatus.DRAFT)
    return {(a.id, s.id): d.total if a.currency in (None, d.currency) else Decimal(0)
            for (a, s), d in zip(pairs, drafts, strict=True)}


async def evaluate_alerts(unit_of_work: Callable[[], AlertUnitOfWork], catalog: CatalogReader,
                          usage: UsageReader, clock: Clock, org_id: str, is_transient: IsTransient) -> AlertRound:
    """One round: fire what is crossed and not yet fired, re-arm what the balance is above again. An alert
    that cannot be observed (its plan gone, a price that no longer rates) is skipped and reported, never
    holding back the others; an unreachable dependency fails the round."""
    now, done = clock.now(), AlertRound()
    async with unit_of_work() as uow:
        alerts = await uow.alerts.enabled_alerts()
        watched = await in_isolation(alerts, lambda batch: observe(uow, catalog, usage, batch, now), is_transient)
    done.skipped = watched.failed
    observed = [o for _, observations in watched.done for o in observations]
    if not observed:
        return done
    by_id = {a.id: a for a in alerts}
    async with unit_of_work() as uow:
        fired = await uow.alerts.fire([s for alert, subject, start, figure in observed
                                       for s in firings(alert, subject, start, figure, now)])
        for alert, subject, _, figure in observed:
            if indexes := rearmed(alert, figure):
                await uow.alerts.rearm(alert.id, subject, indexes, now)
        done.fired = [AlertFiring(by_id[s.alert_id], s) for s in fired]
        await record_webhooks(uow.webhooks, org_id, [(EventType.ALERT_TRIGGERED, f) for f in done.fired], now)
        await uow.commit()
    return done

"""Alerts (docs/wallets.md, "Alerts"): the API's create, read, change, acknowledge; and the two ways
thresholds fire.

- `evaluate_alerts`: usage and cost thresholds, evaluated in the stream. The processor hands in the
  customers whose usage a batch it just settled changed; only the alerts watching their subscriptions are
  evaluated. Every figure is computed first, outside any transaction (usage reads go through the pool);
  then one unit of work inserts the states of the thresholds crossed (the store answers only the rows it
  really inserted: its unique key per alert, threshold, subject and period decides, whatever ran before or
  runs beside it) and records `alert.triggered` for each new state in the webhook outbox: a state exists
  exactly when its webhook does. Cost alerts compute the open period's draft with `compute_invoices`, the
  invoices' own code.
- `fire_balance_alerts`: balance thresholds, inside the wallet movement's own transaction (wallets.py
  `move_locked`), so that the debit that crosses fires them and a credit above re-arms them, atomically
  with the movement.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from meterflow.application.invoicing import billed_quantity, compute_invoices
from meterflow.application.isolation import IsTransient, in_isolation
from meterflow.application.ports.alerts import AlertStore, AlertUnitOfWork
from meterflow.application.ports.unit_of_work import CustomerKey, UnitOfWork
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
from meterflow.domain.wallets import Wallet, check_currency
from meterflow.domain.webhooks import EventType


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


Observation = tuple[Alert, str, datetime, Decimal]  # alert, subscription, period start, figure


@dataclass
class AlertRound:
    fired: list[AlertFiring] = field(default_factory=list)
    skipped: list[tuple[Alert, Exception]] = field(default_factory=list)  # could not be observed; next change


Watched = Sequence[tuple[Alert, Subscription]]


async def observe(catalog: CatalogReader, usage: UsageReader, watched: Sequence[tuple[Alert, list[Subscription]]],
                  now: datetime) -> list[list[Observation]]:
    """Each figure each alert watches now: a subscription's open-period usage or cost. Batched: one usage
    read for every usage alert's subscriptions, one draft computation for every cost alert's, whatever the
    number of alerts."""
    pairs = [(a, s) for a, subscriptions in watched for s in subscriptions]
    figures = await _usage_figures(catalog, usage, [p for p in pairs if p[0].type is AlertType.USAGE_EXCEEDED], now)
    figures |= await _cost_figures(catalog, usage, [p for p in pairs if p[0].type is AlertType.COST_EXCEEDED], now)
    return [[(alert, s.id, s.open_period(now).start, figures[(alert.id, s.id)]) for s in subscriptions]
            for alert, subscriptions in watched]


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
                          usage: UsageReader, clock: Clock, org_id: str, is_transient: IsTransient,
                          customers: Collection[CustomerKey] | None) -> AlertRound:
    """Fire the usage and cost thresholds crossed and not yet fired, for the subscriptions of `customers`
    (of every customer with None: a processor's first round, for a crossing whose evaluation died with a
    killed process). An alert that cannot be observed (its plan gone, a price that no longer rates) is
    skipped and reported, never holding back the others; an unreachable dependency fails the round."""
    now, done = clock.now(), AlertRound()
    async with unit_of_work() as uow:
        watching = await uow.alerts.watching(customers)
    watched = await in_isolation(watching, lambda batch: observe(catalog, usage, batch, now), is_transient)
    done.skipped = [(alert, error) for (alert, _), error in watched.failed]
    observed = [o for _, observations in watched.done for o in observations]
    if not observed:
        return done
    by_id = {a.id: a for a, _ in watching}
    async with unit_of_work() as uow:
        fired = await uow.alerts.fire([s for alert, subject, start, figure in observed
                                       for s in firings(alert, subject, start, figure, now)])
        done.fired = [AlertFiring(by_id[s.alert_id], s) for s in fired]
        await record_webhooks(uow.webhooks, org_id, [(EventType.ALERT_TRIGGERED, f) for f in done.fired], now)
        await uow.commit()
    return done


async def fire_balance_alerts(uow: UnitOfWork, wallet: Wallet, org_id: str, at: datetime) -> list[AlertFiring]:
    """In the caller's transaction, just after a movement of `wallet`: fire each threshold of the customer's
    balance alerts the balance is now at or below (once until re-armed: the state's key decides, so a
    threshold already fired is left alone) and re-arm those it is above again."""
    alerts = [a for a in await uow.alerts.balance_alerts(wallet.mode, wallet.customer_id)
              if a.currency in (None, wallet.currency)]
    fired = await uow.alerts.fire([s for a in alerts for s in firings(a, wallet.id, None, wallet.balance, at)])
    for alert in alerts:
        if indexes := rearmed(alert, wallet.balance):
            await uow.alerts.rearm(alert.id, wallet.id, indexes, at)
    by_id = {a.id: a for a in alerts}
    done = [AlertFiring(by_id[s.alert_id], s) for s in fired]
    await record_webhooks(uow.webhooks, org_id, [(EventType.ALERT_TRIGGERED, f) for f in done], at)
    return done

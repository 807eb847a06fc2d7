"""SQL for alerts and their states: read, write and encode. The states' primary key (alert, threshold,
subject, period key; migration 0015) is the final guard that a threshold fires once: `fire` inserts with
`ON CONFLICT DO NOTHING` and answers only the rows it wrote. Deletes of alerts are soft."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from decimal import Decimal

import asyncpg

from meterflow.adapters.postgres import Executor
from meterflow.adapters.subscription_repository import SubscriptionRepository
from meterflow.domain.alerts import ARMED, Alert, AlertScope, AlertState, AlertType, Threshold
from meterflow.domain.catalog import Subscription, SubscriptionStatus
from meterflow.domain.errors import Conflict
from meterflow.domain.modes import Mode

_LIVE = "deleted_at IS NULL"
_SCOPE_TABLES = {AlertScope.CUSTOMER: "customers", AlertScope.SUBSCRIPTION: "subscriptions",
                 AlertScope.PLAN: "plans"}


def _state(row: asyncpg.Record) -> AlertState:
    return AlertState(row["alert_id"], row["threshold_index"], row["label"], row["value"], row["subject_id"],
                      row["period_key"], row["period_start"], row["observed"], row["triggered_at"],
                      row["acknowledged_at"])


def _alert(row: asyncpg.Record, states: Sequence[AlertState] = ()) -> Alert:
    thresholds = tuple(Threshold(Decimal(t["value"]), t["label"]) for t in row["thresholds"])
    return Alert(row["id"], Mode(row["mode"]), AlertType(row["type"]), AlertScope(row["scope"]), row["scope_id"],
                 row["metric_id"], row["currency"], thresholds, row["require_acknowledgment"], row["enabled"],
                 row["created_at"], row["updated_at"], tuple(states))


def _thresholds(alert: Alert) -> list[dict[str, str]]:
    return [{"value": format(t.value, "f"), "label": t.label} for t in alert.thresholds]


class AlertRepository:
    def __init__(self, db: Executor) -> None:
        self._db = db

    async def scope_exists(self, mode: Mode, scope: AlertScope, scope_id: str) -> bool:
        table = _SCOPE_TABLES[scope]  # ours, never a request's
        live = "" if scope is AlertScope.SUBSCRIPTION else f" AND {_LIVE}"
        return await self._db.fetchval(f"SELECT true FROM {table} WHERE mode = $1 AND id = $2{live}",
                                       mode.value, scope_id) is not None

    async def metric_exists(self, mode: Mode, metric_id: str) -> bool:
        return await self._db.fetchval(f"SELECT true FROM metrics WHERE mode = $1 AND id = $2 AND {_LIVE}",
                                       mode.value, metric_id) is not None

    async def add_alert(self, a: Alert) -> None:
        try:
            await self._db.execute(
                "INSERT INTO alerts (id, mode, type, scope, scope_id, metric_id, currency, thresholds, "
                "require_acknowledgment, enabled, created_at, updated_at) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)", a.id, a.mode.value, a.type.value,
                a.scope.value, a.scope_id, a.metric_id, a.currency, _thresholds(a), a.require_acknowledgment,
                a.enabled, a.created_at)
        except asyncpg.UniqueViolationError as exc:
            raise Conflict("Alert already exists for this scope", "scope_id") from exc

    async def alert(self, mode: Mode, alert_id: str) -> Alert | None:
        row = await self._db.fetchrow(f"SELECT * FROM alerts WHERE mode = $1 AND id = $2 AND {_LIVE}",
                                      mode.value, alert_id)
        if row is None:
            return None
        states = await self._db.fetch("SELECT * FROM alert_states WHERE alert_id = $1 ORDER BY triggered_at DESC, "
                                      "threshold_index DESC", alert_id)
        return _alert(row, [_state(s) for s in states])

    async def alerts(self, mode: Mode, filters: dict[str, str | None], limit: int, offset: int) -> list[Alert]:
        """Filters are column names of ours (`type`, `scope`, `scope_id`) with the value asked, or None."""
        given = {column: value for column, value in filters.items() if value is not None}
        where = "".join(f" AND {column} = ${n}" for n, column in enumerate(given, start=4))
        rows = await self._db.fetch(f"SELECT * FROM alerts WHERE mode = $1 AND {_LIVE}{where} "
                                    "ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
                                    mode.value, limit, offset, *given.values())
        return [_alert(r) for r in rows]

    async def save_alert(self, a: Alert) -> None:
        await self._db.execute("UPDATE alerts SET thresholds = $2, enabled = $3, updated_at = $4 WHERE id = $1",
                               a.id, _thresholds(a), a.enabled, a.updated_at)

    async def delete_alert(self, mode: Mode, alert_id: str, at: datetime) -> bool:
        return await self._db.fetchval(f"UPDATE alerts SET deleted_at = $3, updated_at = $3 WHERE mode = $1 AND "
                                       f"id = $2 AND {_LIVE} RETURNING true", mode.value, alert_id, at) is not None

    async def acknowledge(self, alert_id: str, at: datetime) -> None:
        await self._db.execute("UPDATE alert_states SET acknowledged_at = $2 WHERE alert_id = $1 AND "
                               "acknowledged_at IS NULL", alert_id, at)

    async def watching(self, customers: Collection[tuple[Mode, str]] | None) -> list[tuple[Alert, list[Subscription]]]:
        """One query pairs each alert with the subscriptions it watches; the alerts and the subscriptions are
        then read by id, each once however many pairs name it."""
        given = "" if customers is None else (
            " AND (s.mode, s.customer_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))")
        pairs = await self._db.fetch(
            f"SELECT a.id AS alert_id, s.id AS subscription_id FROM alerts a JOIN subscriptions s ON "
            f"s.mode = a.mode AND s.status = '{SubscriptionStatus.ACTIVE}' AND CASE a.scope "
            f"WHEN '{AlertScope.CUSTOMER}' THEN s.customer_id = a.scope_id "
            f"WHEN '{AlertScope.SUBSCRIPTION}' THEN s.id = a.scope_id ELSE s.plan_id = a.scope_id END "
            f"WHERE a.enabled AND a.{_LIVE} AND a.type <> '{AlertType.WALLET_BALANCE_DROPPED}'{given} "
            "ORDER BY a.created_at, a.id, s.id",
            *([] if customers is None else ([m.value for m, _ in customers], [c for _, c in customers])))
        alerts = {r["id"]: _alert(r) for r in await self._db.fetch(
            "SELECT * FROM alerts WHERE id = ANY($1::text[])", list({p["alert_id"] for p in pairs}))}
        subscriptions = await SubscriptionRepository(self._db).subscriptions_by_id({p["subscription_id"]
                                                                                   for p in pairs})
        watched: dict[str, list[Subscription]] = {}
        for pair in pairs:
            watched.setdefault(pair["alert_id"], []).append(subscriptions[pair["subscription_id"]])
        return [(alerts[alert_id], of_alert) for alert_id, of_alert in watched.items()]

    async def balance_alerts(self, mode: Mode, customer_id: str) -> list[Alert]:
        rows = await self._db.fetch(
            f"SELECT * FROM alerts WHERE mode = $1 AND scope = '{AlertScope.CUSTOMER}' AND scope_id = $2 AND "
            f"type = '{AlertType.WALLET_BALANCE_DROPPED}' AND enabled AND {_LIVE} ORDER BY created_at, id",
            mode.value, customer_id)
        return [_alert(r) for r in rows]

    async def fire(self, states: Sequence[AlertState]) -> list[AlertState]:
        if not states:
            return []
        rows = await self._db.fetch(
            "INSERT INTO alert_states (alert_id, threshold_index, subject_id, period_key, label, value, "
            "period_start, observed, triggered_at) SELECT * FROM unnest($1::text[], $2::int[], $3::text[], "
            "$4::text[], $5::text[], $6::numeric[], $7::timestamptz[], $8::numeric[], $9::timestamptz[]) "
            "ON CONFLICT DO NOTHING RETURNING *",
            [s.alert_id for s in states], [s.threshold_index for s in states], [s.subject_id for s in states],
            [s.period_key for s in states], [s.label for s in states], [s.value for s in states],
            [s.period_start for s in states], [s.observed for s in states], [s.triggered_at for s in states])
        return [_state(r) for r in rows]

    async def rearm(self, alert_id: str, subject_id: str, threshold_indexes: Sequence[int], at: datetime) -> None:
        """The armed states become history, under a key of their own: the next drop fires again."""
        await self._db.execute(
            "UPDATE alert_states SET period_key = 'rearmed ' || $4 WHERE alert_id = $1 AND subject_id = $2 AND "
            "threshold_index = ANY($3::int[]) AND period_key = $5", alert_id, subject_id, list(threshold_indexes),
            at.isoformat(), ARMED)

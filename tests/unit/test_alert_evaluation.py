"""Alert evaluation (application/alerts.py `evaluate_alerts`) on the fake billing world: a usage threshold
fires once per subscription and period, again in the next period; a cost threshold reads the draft the
invoice would show; a plan scope watches each subscription of the plan; a disabled alert is not
evaluated; an alert that cannot be observed is skipped without holding back the others; each firing is
one `alert.triggered` event in the outbox. A round given the customers whose usage changed (the
stream's) evaluates only the alerts watching their subscriptions."""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta
from decimal import Decimal

from meterflow.application.alerts import evaluate_alerts
from meterflow.application.ports.unit_of_work import CustomerKey
from meterflow.domain.alerts import Alert, AlertScope, AlertType, thresholds_of
from meterflow.domain.alerts import AlertFiring as Firing
from meterflow.domain.webhooks import EndpointStatus, EventType, WebhookEndpoint
from tests.unit.billing_world import MODE, ORG, START, World, is_transient

DAY = timedelta(days=1)


def watch(world: World, alert_type: AlertType, scope: AlertScope, scope_id: str, *values: str,
          metric_id: str | None = None, enabled: bool = True) -> Alert:
    made = Alert(f"alr_{len(world.db.tables.alerts.alerts)}", MODE, alert_type, scope, scope_id, metric_id, None,
                 thresholds_of([{"value": v, "label": v} for v in values]), False, enabled, START, START)
    world.db.tables.alerts.alerts[made.id] = made
    return made


async def evaluate(world: World, customers: Collection[CustomerKey] | None = None) -> list[Firing]:
    done = await evaluate_alerts(world.db.unit_of_work, world.catalog, world.usage, world.clock, ORG, is_transient,
                                 customers)
    assert done.skipped == []
    return done.fired


async def test_a_usage_threshold_fires_once_per_period_and_again_in_the_next() -> None:
    world = World()
    s = await world.subscribe(world.add_plan())
    metric_id = world.catalog.plans[s.plan_id].prices[0].metric_id
    alert = watch(world, AlertType.USAGE_EXCEEDED, AlertScope.SUBSCRIPTION, s.id, "100", "200", metric_id=metric_id)
    world.use(s, START + timedelta(hours=1), times=99)
    world.clock.set(START + timedelta(hours=2))
    assert await evaluate(world) == []
    world.use(s, START + timedelta(hours=2), times=1)
    [fired] = await evaluate(world)
    assert (fired.alert.id, fired.state.threshold_index, fired.state.observed) == (alert.id, 0, Decimal(100))
    assert await evaluate(world) == []  # evaluated again: nothing new
    world.use(s, START + DAY + timedelta(hours=1), times=100)
    world.clock.set(START + DAY + timedelta(hours=2))
    [next_period] = await evaluate(world)
    assert next_period.state.period_start == START + DAY
    assert len(world.db.tables.alerts.states) == 2


async def test_a_cost_threshold_reads_the_draft_and_a_plan_scope_watches_each_subscription() -> None:
    world = World()
    plan = world.add_plan()  # 0.50 an event
    first, second = await world.subscribe(plan), await world.subscribe(plan)
    watch(world, AlertType.COST_EXCEEDED, AlertScope.PLAN, plan.id, "5.00")
    watch(world, AlertType.COST_EXCEEDED, AlertScope.CUSTOMER, first.customer_id, "1.00", enabled=False)
    world.use(first, START + timedelta(hours=1), times=10)  # 5.00
    world.use(second, START + timedelta(hours=1), times=9)  # 4.50
    world.clock.set(START + timedelta(hours=2))
    [fired] = await evaluate(world)
    assert (fired.state.subject_id, fired.state.observed) == (first.id, Decimal("5.00"))


async def test_each_firing_is_one_alert_triggered_event_when_an_endpoint_listens() -> None:
    world = World()
    s = await world.subscribe(world.add_plan())
    world.db.tables.webhook_endpoints["whe_1"] = WebhookEndpoint(
        "whe_1", MODE, "https://hooks.example/alerts", (EventType.ALERT_TRIGGERED.value,), None,
        EndpointStatus.ENABLED, "whsec_x", START, START)
    watch(world, AlertType.COST_EXCEEDED, AlertScope.SUBSCRIPTION, s.id, "0.50", "1.00")
    world.use(s, START + timedelta(hours=1), times=2)
    world.clock.set(START + timedelta(hours=2))
    await evaluate(world)
    await evaluate(world)
    events = list(world.db.tables.webhook_events.values())
    assert sorted(e.payload["data"]["alert"]["states"][0]["threshold_index"] for e in events) == [0, 1]
    assert {e.type for e in events} == {EventType.ALERT_TRIGGERED}


async def test_an_alert_that_cannot_be_observed_is_skipped_and_the_others_still_fire() -> None:
    world = World()
    s = await world.subscribe(world.add_plan())
    broken = await world.subscribe(world.add_plan())
    del world.catalog.plans[broken.plan_id]  # its plan can no longer be read: no draft to compute
    bad = watch(world, AlertType.COST_EXCEEDED, AlertScope.SUBSCRIPTION, broken.id, "0.50")
    good = watch(world, AlertType.COST_EXCEEDED, AlertScope.SUBSCRIPTION, s.id, "0.50")
    world.use(s, START + timedelta(hours=1), times=2)
    world.clock.set(START + timedelta(hours=2))
    done = await evaluate_alerts(world.db.unit_of_work, world.catalog, world.usage, world.clock, ORG, is_transient,
                                 None)
    assert [f.alert.id for f in done.fired] == [good.id]
    assert [a.id for a, _ in done.skipped] == [bad.id]


async def test_a_round_of_changed_customers_evaluates_only_their_subscriptions() -> None:
    world = World()
    plan = world.add_plan()  # 0.50 an event
    changed, other = await world.subscribe(plan), await world.subscribe(plan)
    watch(world, AlertType.COST_EXCEEDED, AlertScope.PLAN, plan.id, "1.00")
    world.use(changed, START + timedelta(hours=1), times=2)
    world.use(other, START + timedelta(hours=1), times=2)
    world.clock.set(START + timedelta(hours=2))
    [fired] = await evaluate(world, {(MODE, changed.customer_id)})
    assert fired.state.subject_id == changed.id
    assert await evaluate(world, {(MODE, "cus_nobody")}) == []
    [swept] = await evaluate(world)  # every customer: the other one's crossing too, the first not again
    assert swept.state.subject_id == other.id

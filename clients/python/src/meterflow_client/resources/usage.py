"""`/v1/usage`: the counted figure of each (customer, metric) over a period, and the counted usage no
period bills (`unbilled`). `value_exact` is the figure as a `Decimal`, digit for digit (so is `value`,
read here without a float in between)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import Field

from meterflow_client._models import APIObject
from meterflow_client._operations import Call, Resource, S, operation, paged, whole
from meterflow_client._pagination import Cursor
from meterflow_client._wire import query


class Rollup(APIObject):
    id: str
    org_id: str
    customer_id: str
    metric_id: str
    aggregation: str
    period_start: datetime
    period_end: datetime
    value: Decimal
    value_exact: Decimal
    event_count: int
    unbillable_count: int
    last_event_at: datetime | None
    is_test: bool
    created_at: datetime
    updated_at: datetime


class UnbilledSpan(APIObject):
    """One metric's counted usage over [from_, to) that no period bills, and why: `before_start`,
    `trial`, `paused`, `after_cancel`, `no_subscription`, `metric_not_priced` or `non_numeric` (counted
    events whose value a numeric metric cannot read)."""

    customer_id: str
    metric_id: str
    reason: str
    value: Decimal
    value_exact: Decimal
    event_count: int
    from_: datetime = Field(alias="from")
    to: datetime


class UnbilledList(APIObject):
    unbilled: list[UnbilledSpan]
    count: int


class Usage(Resource[S]):
    @paged("/v1/usage", "rollups")
    def get(*, customer_id: str | None = None, metric_id: str | None = None, from_: datetime | None = None,
            to: datetime | None = None, limit: int | None = None) -> Cursor[Rollup]:
        """Without a metric: the metrics the customer's subscriptions price; without `from_`/`to`: each
        customer's current period; without a customer: every customer with an active subscription, in
        order of customer id (pages of at most `limit` rollups, each customer whole on one page)."""
        return Cursor(Rollup, query(customer_id=customer_id, metric_id=metric_id, to=to, limit=limit,
                                    **{"from": from_}), field="customer_id")

    @operation("GET", "/v1/usage/unbilled")
    def unbilled(*, customer_id: str, from_: datetime, to: datetime,
                 metric_id: str | None = None) -> Call[UnbilledList]:
        """Every span of [from_, to) with counted usage that no period bills, per metric (the one given,
        or every metric)."""
        return Call(whole(UnbilledList), params=query(customer_id=customer_id, metric_id=metric_id, to=to,
                                                      **{"from": from_}))

"""Alert rules (domain/alerts.py): thresholds strictly ascending and named by index when not, what each
type needs, which thresholds a figure crosses or a balance re-arms, and the key a firing is kept under."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from meterflow.domain.alerts import (
    ARMED,
    Alert,
    AlertScope,
    AlertType,
    check_target,
    crossed,
    firings,
    rearmed,
    thresholds_of,
)
from meterflow.domain.errors import FieldError
from meterflow.domain.modes import Mode

AT = datetime(2026, 3, 1, tzinfo=UTC)


def alert(alert_type: AlertType, *values: str) -> Alert:
    thresholds = thresholds_of([{"value": v, "label": f"at {v}"} for v in values])
    return Alert("alr_1", Mode.TEST, alert_type, AlertScope.CUSTOMER, "cus_1", "met_1", None, thresholds, False,
                 True, AT, AT)


@pytest.mark.parametrize(("raw", "param"), [
    ([{"value": "10"}, {"value": "5"}], "thresholds[1].value"),
    ([{"value": "10"}, {"value": "10"}], "thresholds[1].value"),
    ([{"value": 10}], "thresholds[0].value"), ([{"value": "1e3"}], "thresholds[0].value"),
    ([{"label": "no value"}], "thresholds[0].value"), ([{"value": "1", "label": 7}], "thresholds[0].label"),
    ([], "thresholds"), ([{"value": str(n)} for n in range(21)], "thresholds"),
])
def test_thresholds_out_of_their_domain_name_the_one_at_fault(raw: list[dict[str, Any]], param: str) -> None:
    with pytest.raises(FieldError) as refused:
        thresholds_of(raw)
    assert refused.value.param == param


def test_each_type_names_what_it_lacks() -> None:
    with pytest.raises(FieldError) as no_metric:
        check_target(AlertType.USAGE_EXCEEDED, AlertScope.CUSTOMER, None)
    with pytest.raises(FieldError) as wrong_scope:
        check_target(AlertType.WALLET_BALANCE_DROPPED, AlertScope.PLAN, None)
    assert (no_metric.value.param, wrong_scope.value.param) == ("metric_id", "scope")
    check_target(AlertType.COST_EXCEEDED, AlertScope.PLAN, None)


def test_usage_reaches_a_threshold_and_a_balance_drops_to_one() -> None:
    usage = alert(AlertType.USAGE_EXCEEDED, "100", "200")
    assert (crossed(usage, Decimal("99.9")), crossed(usage, Decimal(100)), crossed(usage, Decimal(250))) == (
        [], [0], [0, 1])
    assert rearmed(usage, Decimal(0)) == []  # usage re-arms by period, never by figure
    balance = alert(AlertType.WALLET_BALANCE_DROPPED, "10", "50")
    assert (crossed(balance, Decimal("50.01")), crossed(balance, Decimal(50)), crossed(balance, Decimal(-1))) == (
        [], [1], [0, 1])
    assert rearmed(balance, Decimal(30)) == [0] and rearmed(balance, Decimal("50.01")) == [0, 1]


def test_a_firing_is_kept_per_period_or_while_armed() -> None:
    usage = firings(alert(AlertType.USAGE_EXCEEDED, "1"), "sub_1", AT, Decimal(5), AT)
    balance = firings(alert(AlertType.WALLET_BALANCE_DROPPED, "1"), "wal_1", None, Decimal(0), AT)
    assert [(s.subject_id, s.period_key, s.observed) for s in usage] == [("sub_1", AT.isoformat(), Decimal(5))]
    assert [(s.subject_id, s.period_key, s.label) for s in balance] == [("wal_1", ARMED, "at 1")]

"""What a process that evaluates alerts reports of a round, the same way wherever it runs (the processor
after settled batches, the closer after a replay): firings counted by type, each alert that could not be
observed counted and logged."""

from __future__ import annotations

import logging

from meterflow.application.alerts import AlertRound
from meterflow.observability import ALERT_EVALUATION_FAILURES, count_alerts_fired

log = logging.getLogger(__name__)


def report_round(done: AlertRound) -> None:
    count_alerts_fired(done.fired)
    for alert, reason in done.skipped:
        ALERT_EVALUATION_FAILURES.labels("skipped").inc()
        log.error("alert %s skipped: %s: %s", alert.id, type(reason).__name__, reason)


def report_failure(retried: bool, customers: int | None) -> None:
    """A round that raised (from within an `except` block: the traceback is logged)."""
    ALERT_EVALUATION_FAILURES.labels("retried" if retried else "dropped").inc()
    log.exception("alert evaluation failed for %s customers; %s", "all" if customers is None else customers,
                  "retrying" if retried else "left to their next change")

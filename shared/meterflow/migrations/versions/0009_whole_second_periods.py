"""Whole-second periods, the start allowance, and ended periods waiting for the closer.

Revision ID: 0009
Revises: 0008_webhooks

Existing subscriptions: every boundary not yet invoiced is truncated to its whole second (the anchor, the
trial end, a pause or cancel instant, the current period's end, and its start while nothing of the
subscription has been invoiced up to it); a draft of that current period moves with it. A period already
finalized, paid or void is never changed, and the period after one keeps its start (the end of the
invoiced one), so no instant is ever in two periods: that one period may start at a fraction of a second,
every later boundary is whole. The start allowance applies to subscriptions created from this revision
on: an existing one's first period bills usage from its own start (`usage_from` = `first_period_start`).

`waiting_periods` holds the ended periods a resumed subscription left uninvoiced: the closer invoices each
and deletes its row in the same transaction; the unique index on live invoices stays the final guard.
"""

from alembic import op

revision = "0009"
down_revision = "0008_webhooks"

# Whether nothing of subscription s has been invoiced past `at` (a draft is not an invoice yet).
_INVOICED_PAST = ("EXISTS (SELECT 1 FROM invoices i WHERE i.subscription_id = s.id AND i.status <> 'draft' "
                  "AND i.period_end > date_trunc('second', {at}))")

STATEMENTS = (
    "ALTER TABLE subscriptions ADD COLUMN first_period_start timestamptz, ADD COLUMN usage_from timestamptz",
    "CREATE TEMPORARY TABLE whole_second_periods ON COMMIT DROP AS SELECT s.id, s.current_period_start AS "
    "old_start, s.current_period_end AS old_end, CASE WHEN " + _INVOICED_PAST.format(at="s.current_period_start")
    + " THEN s.current_period_start ELSE date_trunc('second', s.current_period_start) END AS new_start "
    "FROM subscriptions s",
    "ALTER TABLE whole_second_periods ADD COLUMN new_end timestamptz",
    # An end truncated to or before its kept start would leave an empty period that nothing closes.
    "UPDATE whole_second_periods SET new_end = CASE WHEN old_end = old_start THEN new_start "
    "WHEN date_trunc('second', old_end) > new_start THEN date_trunc('second', old_end) ELSE old_end END",
    "UPDATE invoices i SET period_start = w.new_start, period_end = w.new_end FROM whole_second_periods w "
    "WHERE i.subscription_id = w.id AND i.status = 'draft' AND i.period_start = w.old_start "
    "AND i.period_end = w.old_end",
    "UPDATE subscriptions s SET current_period_start = w.new_start, current_period_end = w.new_end, "
    "anchor = date_trunc('second', s.anchor), trial_ends_at = date_trunc('second', s.trial_ends_at), "
    "stops_at = date_trunc('second', s.stops_at) FROM whole_second_periods w WHERE w.id = s.id",
    "UPDATE subscriptions s SET first_period_start = LEAST(s.current_period_start, (SELECT min(i.period_start) "
    "FROM invoices i WHERE i.subscription_id = s.id)), usage_from = LEAST(s.current_period_start, "
    "(SELECT min(i.period_start) FROM invoices i WHERE i.subscription_id = s.id))",
    "DROP TABLE whole_second_periods",
    """
    CREATE TABLE waiting_periods (
        subscription_id text NOT NULL REFERENCES subscriptions (id),
        mode            text NOT NULL CHECK (mode IN ('test', 'live')),
        period_start    timestamptz NOT NULL,
        period_end      timestamptz NOT NULL CHECK (period_end > period_start),
        queued_at       timestamptz NOT NULL,
        PRIMARY KEY (subscription_id, period_start)
    )
    """,
    "CREATE INDEX waiting_periods_to_close ON waiting_periods (period_end, subscription_id)",
    # A subscription's ended periods, every status (unbilled usage reads them per customer's subscriptions).
    "CREATE INDEX invoices_by_subscription ON invoices (subscription_id, period_start)",
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    # Truncated boundaries stay truncated: they are valid boundaries for the code before this revision.
    op.execute("DROP INDEX invoices_by_subscription")
    op.execute("DROP TABLE waiting_periods")
    op.execute("ALTER TABLE subscriptions DROP COLUMN first_period_start, DROP COLUMN usage_from")

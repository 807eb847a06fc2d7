"""The closer's order in its index: due subscriptions by (period end, id).

Revision ID: 0006_close_order
Revises: 0005_events_on_record

`lock_due` takes the next chunk ORDER BY current_period_end, id LIMIT n. With the index on the period
end alone, every subscription sharing one end (all monthly plans started on the 1st) had to be read and
sorted for each chunk: a close of 100,000 such subscriptions read ~10^7 rows in 200 chunks. With the id
in the index the chunk is its first n entries.
"""

from alembic import op

revision = "0006_close_order"
down_revision = "0005_events_on_record"


def upgrade() -> None:
    op.execute("DROP INDEX subscriptions_to_close")
    op.execute("CREATE INDEX subscriptions_to_close ON subscriptions (current_period_end, id) "
               "WHERE current_period_end > current_period_start")


def downgrade() -> None:
    op.execute("DROP INDEX subscriptions_to_close")
    op.execute("CREATE INDEX subscriptions_to_close ON subscriptions (current_period_end) "
               "WHERE current_period_end > current_period_start")

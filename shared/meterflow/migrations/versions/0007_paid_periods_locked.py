"""A paid invoice's period is as locked as a finalized one's: late events are found in both.

Revision ID: 0007_paid_periods_locked
Revises: 0006_close_order

An invoice is paid only once finalized (docs/billing.md, "Invoices and period close"), and its amounts never change
after; an event counted later in its period is a late event (docs/billing.md, "Late events") like one in a finalized
period. The lookup of locked periods by customer gets an index covering both states.
"""

from alembic import op

revision = "0007_paid_periods_locked"
down_revision = "0006_close_order"


def upgrade() -> None:
    op.execute("DROP INDEX finalized_invoices_by_customer")
    op.execute("CREATE INDEX locked_invoices_by_customer ON invoices (customer_id, period_end) "
               "WHERE status IN ('finalized', 'paid')")


def downgrade() -> None:
    op.execute("DROP INDEX locked_invoices_by_customer")
    op.execute("CREATE INDEX finalized_invoices_by_customer ON invoices (customer_id, period_end) "
               "WHERE status = 'finalized'")

"""Late events: counted usage whose timestamp falls in a period already finalized.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"

STATEMENTS = (
    """
    CREATE TABLE late_events (
        mode            text NOT NULL CHECK (mode IN ('test', 'live')),
        idempotency_key text NOT NULL,
        customer_id     text NOT NULL,
        event_name      text NOT NULL,
        event_timestamp timestamptz NOT NULL,
        invoice_id      text NOT NULL REFERENCES invoices (id),
        detected_at     timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (mode, idempotency_key)
    )
    """,
    "CREATE INDEX late_events_by_detection ON late_events (detected_at)",
    "CREATE INDEX finalized_invoices_by_customer ON invoices (customer_id, period_end) WHERE status = 'finalized'",
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP INDEX finalized_invoices_by_customer")
    op.execute("DROP TABLE late_events")

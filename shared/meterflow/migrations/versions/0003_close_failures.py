"""Close failures: periods the closer skipped and why, listed for ops until they close (docs/billing.md, "Invoices and
period close").

No foreign key to subscriptions: the listing must be writable whatever state the failing row is in.

Revision ID: 0003_close_failures
Revises: 0002
"""

from alembic import op

revision = "0003_close_failures"
down_revision = "0002"


def upgrade() -> None:
    op.execute("""
    CREATE TABLE close_failures (
        subscription_id text PRIMARY KEY,
        mode            text NOT NULL CHECK (mode IN ('test', 'live')),
        period_start    timestamptz NOT NULL,
        period_end      timestamptz NOT NULL,
        stage           text NOT NULL,
        reason          text NOT NULL,
        detail          text NOT NULL,
        attempts        integer NOT NULL DEFAULT 1,
        first_failed_at timestamptz NOT NULL,
        last_failed_at  timestamptz NOT NULL
    )
    """)


def downgrade() -> None:
    op.execute("DROP TABLE close_failures")

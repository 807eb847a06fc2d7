"""Monigo's resource surface: customer phone, updates and soft deletes, plan trials and VAT, subscription
trials and pauses, paid invoices with VAT (docs/api.md; docs/billing.md, "Money and rounding" and "Periods and the
subscription lifecycle"), Idempotency-Key records.

Deletes are soft (`deleted_at`): a deleted customer's invoices stay readable and its rows stay the target
of their foreign keys. `external_id` is unique among the customers not deleted, so it can be reused.
A paid invoice is as frozen as a finalized one; the only change a finalized invoice allows besides
voiding is becoming paid.

Revision ID: 0004_monigo_surface
Revises: 0003_close_failures
"""

from alembic import op

revision = "0004_monigo_surface"
down_revision = "0003_close_failures"

STATEMENTS = [
    "ALTER TABLE api_keys ADD COLUMN scope text NOT NULL DEFAULT 'full' CHECK (scope IN ('full', 'ingest')), "
    "ADD COLUMN revoked_at timestamptz",
    # Idempotency-Key records (domain/idempotency.py): the row is inserted before the request executes, so
    # the primary key decides which of two concurrent retries runs. `status` NULL: still running.
    """CREATE TABLE idempotency_keys (
        mode        text NOT NULL CHECK (mode IN ('test', 'live')),
        key         text NOT NULL,
        fingerprint text NOT NULL,
        created_at  timestamptz NOT NULL,
        status      integer,
        body        bytea,
        PRIMARY KEY (mode, key)
    )""",
    "CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at)",
    "ALTER TABLE customers ADD COLUMN phone text, ADD COLUMN updated_at timestamptz, "
    "ADD COLUMN deleted_at timestamptz",
    "ALTER TABLE customers DROP CONSTRAINT customers_mode_external_id_key",
    "CREATE UNIQUE INDEX customers_external_id_live ON customers (mode, external_id) WHERE deleted_at IS NULL",
    "ALTER TABLE metrics ADD COLUMN updated_at timestamptz, ADD COLUMN deleted_at timestamptz",
    "ALTER TABLE plans ADD COLUMN trial_period_days integer NOT NULL DEFAULT 0, "
    "ADD COLUMN vat_rate numeric NOT NULL DEFAULT 0, ADD COLUMN updated_at timestamptz, "
    "ADD COLUMN deleted_at timestamptz",
    "ALTER TABLE subscriptions ADD COLUMN trial_ends_at timestamptz, ADD COLUMN updated_at timestamptz, "
    "ADD COLUMN stops_at timestamptz",
    # A subscription with nothing left to invoice holds an empty period (domain/catalog.py); a canceled one
    # from before this revision held the period after its last invoice.
    "UPDATE subscriptions SET current_period_end = current_period_start WHERE status = 'canceled'",
    "CREATE INDEX subscriptions_to_close ON subscriptions (current_period_end) "
    "WHERE current_period_end > current_period_start",
    "CREATE INDEX subscriptions_by_plan ON subscriptions (plan_id)",
    "ALTER TABLE invoices DROP CONSTRAINT invoices_status_check",
    "ALTER TABLE invoices ADD CONSTRAINT invoices_status_check "
    "CHECK (status IN ('draft', 'finalized', 'paid', 'void'))",
    "ALTER TABLE invoices ADD COLUMN vat_rate numeric NOT NULL DEFAULT 0, "
    "ADD COLUMN vat_amount numeric NOT NULL DEFAULT 0, ADD COLUMN paid_at timestamptz, "
    "ADD COLUMN provider_invoice_id text",
    """CREATE OR REPLACE FUNCTION refuse_finalized_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status IN ('finalized', 'paid') AND (NEW.total <> OLD.total OR NEW.subtotal <> OLD.subtotal
                                               OR NEW.vat_amount <> OLD.vat_amount) THEN
        RAISE EXCEPTION 'invoice % is finalized and cannot change', OLD.id;
    END IF;
    IF OLD.status = 'finalized' AND NEW.status NOT IN ('void', 'paid') THEN
        RAISE EXCEPTION 'invoice % is finalized and cannot change', OLD.id;
    END IF;
    IF OLD.status = 'paid' THEN
        RAISE EXCEPTION 'invoice % is paid and cannot change', OLD.id;
    END IF;
    IF OLD.status = 'void' THEN
        RAISE EXCEPTION 'invoice % is void and cannot change', OLD.id;
    END IF;
    RETURN NEW;
END $$""",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("0004 is not reversible: paid invoices and soft deletes have no earlier form")

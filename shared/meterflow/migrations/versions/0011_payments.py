"""Payments: saved payment methods, attempts (transactions), the collection queue, provider events seen,
hosted-checkout setups; invoices gain their payment state and the status `uncollectible`.

Revision ID: 0011
Revises: 0010

The final guards of "charged at most once" that live in Postgres: one attempt per (invoice, attempt
number) and one reference per attempt (`UNIQUE`), at most one succeeded attempt per invoice (partial
unique index), one queue row per invoice (primary key: finalizing and initiating twice queue once), one
row per provider event (a repeated webhook is applied once), one default method per customer.
The invoice trigger is redefined: a finalized invoice's amounts still never change, but its payment
state may (pending, failed), and it may become uncollectible; an uncollectible one may still be paid or
voided; a paid or void one never changes.
"""

from alembic import op

revision = "0011"
down_revision = "0010"

STATEMENTS = (
    "ALTER TABLE invoices DROP CONSTRAINT invoices_status_check",
    "ALTER TABLE invoices ADD CONSTRAINT invoices_status_check "
    "CHECK (status IN ('draft', 'finalized', 'paid', 'void', 'uncollectible'))",
    "ALTER TABLE invoices ADD COLUMN payment_status text NOT NULL DEFAULT 'none' "
    "CHECK (payment_status IN ('none', 'pending', 'succeeded', 'failed')), "
    "ADD COLUMN amount_paid numeric NOT NULL DEFAULT 0",
    "UPDATE invoices SET amount_paid = total WHERE status = 'paid'",
    """CREATE OR REPLACE FUNCTION refuse_finalized_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status IN ('finalized', 'paid', 'uncollectible') AND (NEW.total <> OLD.total
            OR NEW.subtotal <> OLD.subtotal OR NEW.vat_amount <> OLD.vat_amount) THEN
        RAISE EXCEPTION 'invoice % is finalized and cannot change', OLD.id;
    END IF;
    IF OLD.status = 'finalized' AND NEW.status NOT IN ('finalized', 'void', 'paid', 'uncollectible') THEN
        RAISE EXCEPTION 'invoice % is finalized and cannot change', OLD.id;
    END IF;
    IF OLD.status = 'uncollectible' AND NEW.status NOT IN ('uncollectible', 'void', 'paid') THEN
        RAISE EXCEPTION 'invoice % is uncollectible and cannot change', OLD.id;
    END IF;
    IF OLD.status = 'paid' THEN
        RAISE EXCEPTION 'invoice % is paid and cannot change', OLD.id;
    END IF;
    IF OLD.status = 'void' THEN
        RAISE EXCEPTION 'invoice % is void and cannot change', OLD.id;
    END IF;
    RETURN NEW;
END $$""",
    # An uncollectible invoice's period is as locked as a finalized one's: late events are found in it too.
    "DROP INDEX locked_invoices_by_customer",
    "CREATE INDEX locked_invoices_by_customer ON invoices (customer_id, period_end) "
    "WHERE status IN ('finalized', 'paid', 'uncollectible')",
    """
    CREATE TABLE payment_methods (
        id          text PRIMARY KEY,
        mode        text NOT NULL CHECK (mode IN ('test', 'live')),
        customer_id text NOT NULL REFERENCES customers (id),
        provider    text NOT NULL CHECK (provider IN ('paystack', 'flutterwave')),
        token       text NOT NULL,
        brand       text,
        last4       text,
        exp_month   integer,
        exp_year    integer,
        email       text NOT NULL,
        is_default  boolean NOT NULL,
        created_at  timestamptz NOT NULL,
        updated_at  timestamptz NOT NULL,
        deleted_at  timestamptz
    )
    """,
    "CREATE INDEX payment_methods_of_customer ON payment_methods (customer_id, created_at) WHERE deleted_at IS NULL",
    "CREATE UNIQUE INDEX one_default_payment_method ON payment_methods (customer_id) "
    "WHERE is_default AND deleted_at IS NULL",
    """
    CREATE TABLE payment_transactions (
        id                      text PRIMARY KEY,
        mode                    text NOT NULL CHECK (mode IN ('test', 'live')),
        invoice_id              text NOT NULL REFERENCES invoices (id),
        payment_method_id       text NOT NULL REFERENCES payment_methods (id),
        provider                text NOT NULL,
        reference               text NOT NULL UNIQUE,
        amount                  numeric NOT NULL,
        currency                text NOT NULL,
        status                  text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'unknown')),
        attempt                 integer NOT NULL,
        failure_reason          text,
        next_attempt_at         timestamptz,
        provider_transaction_id text,
        created_at              timestamptz NOT NULL,
        updated_at              timestamptz NOT NULL,
        UNIQUE (invoice_id, attempt)
    )
    """,
    "CREATE UNIQUE INDEX one_successful_charge_per_invoice ON payment_transactions (invoice_id) "
    "WHERE status = 'succeeded'",
    """
    CREATE TABLE payment_queue (
        invoice_id        text PRIMARY KEY REFERENCES invoices (id),
        mode              text NOT NULL CHECK (mode IN ('test', 'live')),
        payment_method_id text,
        due_at            timestamptz NOT NULL,
        claimed_until     timestamptz,
        claim_token       text,
        created_at        timestamptz NOT NULL,
        updated_at        timestamptz NOT NULL
    )
    """,
    "CREATE INDEX payment_queue_due ON payment_queue (due_at)",
    """
    CREATE TABLE provider_events (
        provider    text NOT NULL,
        event_id    text NOT NULL,
        mode        text NOT NULL CHECK (mode IN ('test', 'live')),
        received_at timestamptz NOT NULL,
        PRIMARY KEY (provider, event_id)
    )
    """,
    """
    CREATE TABLE payment_setups (
        reference         text PRIMARY KEY,
        mode              text NOT NULL CHECK (mode IN ('test', 'live')),
        customer_id       text NOT NULL REFERENCES customers (id),
        provider          text NOT NULL,
        email             text NOT NULL,
        authorization_url text NOT NULL,
        payment_method_id text REFERENCES payment_methods (id),
        created_at        timestamptz NOT NULL
    )
    """,
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("0014 is not reversible: uncollectible invoices have no earlier form")

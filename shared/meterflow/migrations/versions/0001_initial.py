"""Initial schema: keys, customers, metrics, plans, prices, subscriptions, invoices.

Revision ID: 0001
Revises:
"""

from alembic import op

revision = "0001"
down_revision = None

SCHEMA = """
CREATE TABLE api_keys (
    id          text PRIMARY KEY,
    mode        text NOT NULL CHECK (mode IN ('test', 'live')),
    key_hash    text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE customers (
    id          text PRIMARY KEY,
    mode        text NOT NULL CHECK (mode IN ('test', 'live')),
    external_id text NOT NULL,
    name        text NOT NULL,
    email       text,
    metadata    jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (mode, external_id)
);

CREATE TABLE metrics (
    id                   text PRIMARY KEY,
    mode                 text NOT NULL CHECK (mode IN ('test', 'live')),
    name                 text NOT NULL,
    event_name           text NOT NULL,
    aggregation          text NOT NULL,
    aggregation_property text,
    description          text,
    created_at           timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX metrics_by_event ON metrics (mode, event_name);

CREATE TABLE plans (
    id             text PRIMARY KEY,
    mode           text NOT NULL CHECK (mode IN ('test', 'live')),
    name           text NOT NULL,
    description    text,
    currency       text NOT NULL,
    plan_type      text NOT NULL,
    billing_period text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE prices (
    id         text PRIMARY KEY,
    plan_id    text NOT NULL REFERENCES plans (id),
    position   integer NOT NULL,
    metric_id  text NOT NULL REFERENCES metrics (id),
    definition jsonb NOT NULL,
    UNIQUE (plan_id, position)
);

CREATE TABLE subscriptions (
    id                   text PRIMARY KEY,
    mode                 text NOT NULL CHECK (mode IN ('test', 'live')),
    customer_id          text NOT NULL REFERENCES customers (id),
    plan_id              text NOT NULL REFERENCES plans (id),
    status               text NOT NULL,
    anchor               timestamptz NOT NULL,
    current_period_start timestamptz NOT NULL,
    current_period_end   timestamptz NOT NULL,
    cancel_at_period_end boolean NOT NULL DEFAULT false,
    canceled_at          timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX subscriptions_by_customer ON subscriptions (customer_id);

CREATE INDEX subscriptions_due ON subscriptions (current_period_end) WHERE status = 'active';

CREATE TABLE invoices (
    id              text PRIMARY KEY,
    mode            text NOT NULL CHECK (mode IN ('test', 'live')),
    customer_id     text NOT NULL REFERENCES customers (id),
    subscription_id text NOT NULL REFERENCES subscriptions (id),
    status          text NOT NULL CHECK (status IN ('draft', 'finalized', 'void')),
    currency        text NOT NULL,
    period_start    timestamptz NOT NULL,
    period_end      timestamptz NOT NULL,
    subtotal        numeric NOT NULL,
    total           numeric NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finalized_at    timestamptz,
    voided_at       timestamptz
);

-- The final guard of "at most one non-void invoice per (subscription, period)": whatever the code
-- does, two closers or a retried close cannot both insert one.
CREATE UNIQUE INDEX one_live_invoice_per_period ON invoices (subscription_id, period_start)
    WHERE status <> 'void';

CREATE INDEX invoices_by_customer ON invoices (customer_id, created_at);

CREATE TABLE invoice_lines (
    invoice_id  text NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    position    integer NOT NULL,
    metric_id   text NOT NULL,
    price_id    text NOT NULL,
    description text NOT NULL,
    quantity    numeric NOT NULL,
    unit_price  numeric,
    amount      numeric NOT NULL,
    PRIMARY KEY (invoice_id, position)
);

-- A finalized invoice never changes: refused by the database, not only by the code.
CREATE FUNCTION refuse_finalized_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'finalized' AND (NEW.status <> 'void' OR NEW.total <> OLD.total
                                     OR NEW.subtotal <> OLD.subtotal) THEN
        RAISE EXCEPTION 'invoice % is finalized and cannot change', OLD.id;
    END IF;
    IF OLD.status = 'void' THEN
        RAISE EXCEPTION 'invoice % is void and cannot change', OLD.id;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER finalized_invoices_are_frozen BEFORE UPDATE ON invoices
    FOR EACH ROW EXECUTE FUNCTION refuse_finalized_change();
"""


def upgrade() -> None:
    # One statement per execute: asyncpg prepares each one, and a prepared statement holds one command.
    for statement in SCHEMA.split("\n\n"):
        op.execute(statement)


def downgrade() -> None:
    for table in ("invoice_lines", "invoices", "subscriptions", "prices", "plans", "metrics",
                  "customers", "api_keys"):
        op.execute(f"DROP TABLE {table} CASCADE")
    op.execute("DROP FUNCTION refuse_finalized_change")

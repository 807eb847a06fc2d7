"""Wallets and their double-entry ledger; customers' payout accounts; usage alerts and their states.

Revision ID: 0012
Revises: 0011

One wallet per (mode, customer, currency). Every movement is one transaction of two `ledger_entries`
rows (the customer's wallet and the organisation's counter-account), both carrying the wallet's id. The
database guards what the code already checks, so that no bug or race can break it:
- `balance >= reserved_balance - overdraft_limit`: no debit overspends, whatever raced it;
- one wallet-side entry per (wallet, idempotency key): a key applies once;
- one entry per (transaction, account type): a transaction is exactly two entries;
- one default payout account per (customer, currency) among those not deleted;
- one live alert per (mode, type, scope, scope id);
- one state per (alert, threshold, subject, period key): a threshold fires once per subscription and
  period (a balance threshold once per wallet until re-armed), whatever evaluates it.
"""

from alembic import op

revision = "0012"
down_revision = "0011"

STATEMENTS = (
    """
    CREATE TABLE wallets (
        id               text PRIMARY KEY,
        mode             text NOT NULL CHECK (mode IN ('test', 'live')),
        customer_id      text NOT NULL REFERENCES customers (id),
        currency         text NOT NULL,
        balance          numeric NOT NULL DEFAULT 0,
        reserved_balance numeric NOT NULL DEFAULT 0 CHECK (reserved_balance >= 0),
        overdraft_limit  numeric NOT NULL DEFAULT 0 CHECK (overdraft_limit >= 0),
        created_at       timestamptz NOT NULL,
        updated_at       timestamptz NOT NULL,
        UNIQUE (mode, customer_id, currency),
        CONSTRAINT wallets_no_overspend CHECK (balance >= reserved_balance - overdraft_limit)
    )
    """,
    "CREATE INDEX wallets_listing ON wallets (mode, created_at, id)",
    """
    CREATE TABLE ledger_entries (
        id              text PRIMARY KEY,
        position        bigserial,
        mode            text NOT NULL CHECK (mode IN ('test', 'live')),
        transaction_id  text NOT NULL,
        wallet_id       text NOT NULL REFERENCES wallets (id),
        account_type    text NOT NULL CHECK (account_type IN ('customer_wallet', 'organisation')),
        account_id      text NOT NULL,
        direction       text NOT NULL CHECK (direction IN ('debit', 'credit')),
        amount          numeric NOT NULL CHECK (amount > 0),
        currency        text NOT NULL,
        balance_before  numeric NOT NULL,
        balance_after   numeric NOT NULL,
        description     text NOT NULL,
        entry_type      text NOT NULL CHECK (entry_type IN ('deposit', 'withdrawal', 'usage', 'refund', 'adjustment')),
        reference_type  text NOT NULL,
        reference_id    text NOT NULL,
        idempotency_key text,
        created_at      timestamptz NOT NULL,
        UNIQUE (transaction_id, account_type)
    )
    """,
    """CREATE UNIQUE INDEX ledger_entries_idempotency ON ledger_entries (wallet_id, idempotency_key)
       WHERE account_type = 'customer_wallet' AND idempotency_key IS NOT NULL""",
    "CREATE INDEX ledger_entries_of_wallet ON ledger_entries (wallet_id, position)",
    """
    CREATE TABLE payout_accounts (
        id                  text PRIMARY KEY,
        mode                text NOT NULL CHECK (mode IN ('test', 'live')),
        customer_id         text NOT NULL REFERENCES customers (id),
        account_name        text NOT NULL,
        payout_method       text NOT NULL CHECK (payout_method IN ('bank_transfer', 'mobile_money')),
        currency            text NOT NULL,
        is_default          boolean NOT NULL,
        metadata            jsonb NOT NULL DEFAULT '{}',
        bank_name           text,
        bank_code           text,
        account_number      text,
        mobile_money_number text,
        created_at          timestamptz NOT NULL,
        updated_at          timestamptz NOT NULL,
        deleted_at          timestamptz
    )
    """,
    """CREATE UNIQUE INDEX payout_accounts_one_default ON payout_accounts (customer_id, currency)
       WHERE is_default AND deleted_at IS NULL""",
    """
    CREATE TABLE alerts (
        id                     text PRIMARY KEY,
        mode                   text NOT NULL CHECK (mode IN ('test', 'live')),
        type                   text NOT NULL CHECK (type IN ('usage_exceeded', 'cost_exceeded',
                                                             'wallet_balance_dropped')),
        scope                  text NOT NULL CHECK (scope IN ('customer', 'subscription', 'plan')),
        scope_id               text NOT NULL,
        metric_id              text,
        currency               text,
        thresholds             jsonb NOT NULL,
        require_acknowledgment boolean NOT NULL,
        enabled                boolean NOT NULL,
        created_at             timestamptz NOT NULL,
        updated_at             timestamptz NOT NULL,
        deleted_at             timestamptz
    )
    """,
    "CREATE UNIQUE INDEX alerts_one_per_scope ON alerts (mode, type, scope, scope_id) WHERE deleted_at IS NULL",
    "CREATE INDEX alerts_listing ON alerts (mode, created_at, id) WHERE deleted_at IS NULL",
    """
    CREATE TABLE alert_states (
        alert_id        text NOT NULL REFERENCES alerts (id),
        threshold_index integer NOT NULL,
        subject_id      text NOT NULL,
        period_key      text NOT NULL,
        label           text NOT NULL,
        value           numeric NOT NULL,
        period_start    timestamptz,
        observed        numeric NOT NULL,
        triggered_at    timestamptz NOT NULL,
        acknowledged_at timestamptz,
        PRIMARY KEY (alert_id, threshold_index, subject_id, period_key)
    )
    """,
    "CREATE INDEX payout_accounts_of_customer ON payout_accounts (customer_id, created_at) WHERE deleted_at IS NULL",
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    for table in ("alert_states", "alerts", "payout_accounts", "ledger_entries", "wallets"):
        op.execute(f"DROP TABLE {table}")

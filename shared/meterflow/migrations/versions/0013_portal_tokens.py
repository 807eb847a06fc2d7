"""Portal tokens: links that open one customer's read-only portal.

Revision ID: 0013
Revises: 0012

Only the token's SHA-256 is stored, unique, so a lookup by the hash finds at most one token. Tokens are
never deleted: a revoked one keeps its row (with `revoked_at`) so that its listing shows when it stopped.
"""

from alembic import op

revision = "0013"
down_revision = "0012"

STATEMENTS = (
    """
    CREATE TABLE portal_tokens (
        id          text PRIMARY KEY,
        mode        text NOT NULL CHECK (mode IN ('test', 'live')),
        customer_id text NOT NULL REFERENCES customers (id),
        token_hash  text NOT NULL UNIQUE,
        label       text NOT NULL DEFAULT '',
        expires_at  timestamptz,
        revoked_at  timestamptz,
        created_at  timestamptz NOT NULL,
        updated_at  timestamptz NOT NULL
    )
    """,
    "CREATE INDEX portal_tokens_listing ON portal_tokens (mode, customer_id, created_at, id)",
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE portal_tokens")

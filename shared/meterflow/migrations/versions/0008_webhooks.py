"""Webhooks: endpoints, the outbox of events, one delivery per (event, endpoint), and the attempts log.

Revision ID: 0008_webhooks
Revises: 0007_paid_periods_locked

An event row is inserted in the same transaction as the change it reports, with one delivery row per
enabled endpoint of its mode subscribed to its type (fan-out at write time: an endpoint created after a
change does not receive it, one disabled after it still does once enabled again). The unique
(event_id, endpoint_id) is the final guard against delivering one event twice to one endpoint as two
deliveries. Workers claim due deliveries with `FOR NO KEY UPDATE … SKIP LOCKED` and lease them
(`claimed_until`, `claim_token`): an outcome is recorded only by the claim that holds the lease, so one
attempt is never logged twice; a worker killed mid-delivery leaves a lease that expires, and the
delivery is sent again (at least once).
"""

from alembic import op

revision = "0008_webhooks"
down_revision = "0007_paid_periods_locked"

STATEMENTS = (
    """
    CREATE TABLE webhook_endpoints (
        id          text PRIMARY KEY,
        mode        text NOT NULL CHECK (mode IN ('test', 'live')),
        url         text NOT NULL,
        events      text[] NOT NULL,
        description text,
        status      text NOT NULL CHECK (status IN ('enabled', 'disabled')),
        secret      text NOT NULL,
        created_at  timestamptz NOT NULL,
        updated_at  timestamptz NOT NULL,
        deleted_at  timestamptz
    )
    """,
    "CREATE INDEX webhook_endpoints_listing ON webhook_endpoints (mode, created_at, id) WHERE deleted_at IS NULL",
    """
    CREATE TABLE webhook_events (
        id         text PRIMARY KEY,
        mode       text NOT NULL CHECK (mode IN ('test', 'live')),
        type       text NOT NULL,
        created_at timestamptz NOT NULL,
        payload    json NOT NULL
    )
    """,
    "CREATE INDEX webhook_events_by_time ON webhook_events (mode, created_at, id)",
    """
    CREATE TABLE webhook_deliveries (
        id               text PRIMARY KEY,
        mode             text NOT NULL CHECK (mode IN ('test', 'live')),
        endpoint_id      text NOT NULL REFERENCES webhook_endpoints (id),
        event_id         text NOT NULL REFERENCES webhook_events (id),
        event_type       text NOT NULL,
        event_created_at timestamptz NOT NULL,
        status           text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
        attempts         integer NOT NULL DEFAULT 0,
        next_attempt_at  timestamptz,
        claimed_until    timestamptz,
        claim_token      text,
        last_status_code integer,
        last_error       text,
        created_at       timestamptz NOT NULL,
        updated_at       timestamptz NOT NULL,
        UNIQUE (event_id, endpoint_id)
    )
    """,
    # What the workers scan: pending deliveries by due time, and each endpoint's pending ones in event order.
    "CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending'",
    """CREATE INDEX webhook_deliveries_endpoint_order ON webhook_deliveries (endpoint_id, event_created_at, event_id)
       WHERE status = 'pending'""",
    "CREATE INDEX webhook_deliveries_listing ON webhook_deliveries (endpoint_id, created_at, id)",
    """
    CREATE TABLE webhook_attempts (
        delivery_id text NOT NULL REFERENCES webhook_deliveries (id),
        attempt     integer NOT NULL,
        started_at  timestamptz NOT NULL,
        duration_ms integer NOT NULL,
        status_code integer,
        error       text,
        PRIMARY KEY (delivery_id, attempt)
    )
    """,
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    for table in ("webhook_attempts", "webhook_deliveries", "webhook_events", "webhook_endpoints"):
        op.execute(f"DROP TABLE {table}")

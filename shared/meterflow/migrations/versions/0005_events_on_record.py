"""Events on record (docs/billing.md, "Events on record"): every counted event, partitioned by month of its timestamp.

Revision ID: 0005_events_on_record
Revises: 0004_monigo_surface

Partitions are created ahead by the writer (`adapters/event_record_repository.py`) for every month a
batch touches, and dropped whole by retention. A unique index on a partitioned table must include the
partition key, so the guard is (mode, idempotency_key, timestamp): the record of one counted event is
written again only with its own timestamp (the counting transaction names the record counted), and a
key is counted once (the dedupe marks), so one counted event is one row.
"""

from alembic import op

revision = "0005_events_on_record"
down_revision = "0004_monigo_surface"

STATEMENTS = (
    """
    CREATE TABLE events_on_record (
        mode            text NOT NULL CHECK (mode IN ('test', 'live')),
        idempotency_key text NOT NULL,
        customer_id     text NOT NULL,
        event_name      text NOT NULL,
        timestamp       timestamptz NOT NULL,
        properties      json NOT NULL,
        received_at     timestamptz NOT NULL,
        topic           text NOT NULL,
        kafka_partition integer NOT NULL,
        kafka_offset    bigint NOT NULL,
        PRIMARY KEY (mode, idempotency_key, timestamp)
    ) PARTITION BY RANGE (timestamp)
    """,
    # A customer's events in a period, newest first (GET /v1/events, an invoice's events, explain).
    "CREATE INDEX events_on_record_by_customer ON events_on_record (mode, customer_id, timestamp, idempotency_key)",
    # All events newest first (GET /v1/events without a customer).
    "CREATE INDEX events_on_record_by_time ON events_on_record (mode, timestamp, idempotency_key)",
    # Replay jobs (POST /v1/events/replay): claimed by the closer's replay loop with FOR UPDATE SKIP LOCKED.
    """
    CREATE TABLE replay_jobs (
        id              text PRIMARY KEY,
        mode            text NOT NULL CHECK (mode IN ('test', 'live')),
        status          text NOT NULL CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
        from_timestamp  timestamptz NOT NULL,
        to_timestamp    timestamptz NOT NULL,
        event_name      text,
        events_total    bigint NOT NULL DEFAULT 0,
        events_replayed bigint NOT NULL DEFAULT 0,
        error_message   text,
        started_at      timestamptz,
        completed_at    timestamptz,
        created_at      timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX replay_jobs_waiting ON replay_jobs (created_at) WHERE status IN ('pending', 'processing')",
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE replay_jobs")
    op.execute("DROP TABLE events_on_record")

"""Edge figures: a period's partial edge hours counted once from the events on record, and kept until
that hour's record changes (docs/usage-edges.md).

Revision ID: 0010
Revises: 0009

`record_hour_versions` counts the rows ever written on record per (mode, customer, event name, UTC
hour); the record's own insert bumps it in the same statement, so a figure folded from the record after
reading version v is exact for as long as the version is still v. `edge_figures` keeps one figure per
(metric, customer, edge) with the version it was folded at; a figure whose version is not the current
one is never used. Decimals are kept as their text: read back, each is the very Decimal folded.
"""

from alembic import op

revision = "0010"
down_revision = "0009"

STATEMENTS = (
    """
    CREATE TABLE record_hour_versions (
        mode        text NOT NULL,
        customer_id text NOT NULL,
        event_name  text NOT NULL,
        hour        timestamptz NOT NULL,
        version     bigint NOT NULL,
        PRIMARY KEY (mode, customer_id, event_name, hour)
    )
    """,
    "CREATE INDEX record_hour_versions_by_hour ON record_hour_versions (hour)",
    """
    CREATE TABLE edge_figures (
        mode            text NOT NULL,
        metric_id       text NOT NULL,
        customer_id     text NOT NULL,
        edge_start      timestamptz NOT NULL,
        edge_end        timestamptz NOT NULL,
        version         bigint NOT NULL,
        events          bigint NOT NULL,
        valued          bigint NOT NULL,
        total           text NOT NULL,
        maximum         text,
        minimum         text,
        unbillable      bigint NOT NULL,
        distinct_values text[] NOT NULL,
        PRIMARY KEY (mode, metric_id, customer_id, edge_start, edge_end)
    )
    """,
    "CREATE INDEX edge_figures_by_start ON edge_figures (edge_start)",
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    for table in ("edge_figures", "record_hour_versions"):
        op.execute(f"DROP TABLE {table}")

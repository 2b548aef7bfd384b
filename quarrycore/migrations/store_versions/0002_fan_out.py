"""Fan-out: a URL's host, a job's shard count, the shards' leases and the
host -> shard map (``store/shards.py``).

Revision ID: 0002_fan_out
Revises: 0001_store_baseline
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_fan_out"
down_revision = "0001_store_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Idempotent: a store opened by a build between the baseline and this revision may
    # have some of these already.
    have = sa.inspect(op.get_bind())
    for table, column in (
        ("jobs", sa.Column("shards", sa.Integer)),
        ("job_urls", sa.Column("host", sa.String(255))),
    ):
        if column.name not in {c["name"] for c in have.get_columns(table)}:
            op.add_column(table, column)
    if not have.has_table("job_shards"):
        _create_job_shards()
    if not have.has_table("job_hosts"):
        _create_job_hosts()


def _create_job_shards() -> None:
    op.create_table(
        "job_shards",
        sa.Column("job_id", sa.String(128), primary_key=True),
        sa.Column("shard", sa.Integer, primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("flow_run_id", sa.String(64)),
        sa.Column("runs", sa.Integer),
        sa.Column("lock_owner", sa.String(200)),
        sa.Column("lock_heartbeat", sa.DateTime(timezone=True)),
        sa.Column("lock_token", sa.BigInteger),
        sa.Column("lock_expires", sa.Float),
    )


def _create_job_hosts() -> None:
    op.create_table(
        "job_hosts",
        sa.Column("job_id", sa.String(128), primary_key=True),
        sa.Column("host", sa.String(255), primary_key=True),
        sa.Column("shard", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("job_hosts")
    op.drop_table("job_shards")
    with op.batch_alter_table("job_urls") as batch:
        batch.drop_column("host")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("shards")

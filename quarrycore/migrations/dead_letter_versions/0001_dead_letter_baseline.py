"""The dead letters as they were when their schema was first versioned; adopts a
database made before versioning (creates what is missing, adds nullable columns).

Revision ID: 0001_dead_letter_baseline
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from quarrycore.migrations import add_missing_columns

revision = "0001_dead_letter_baseline"
down_revision = None
branch_labels = None
depends_on = None

metadata = sa.MetaData()

dead_letters = sa.Table(
    "dead_letters",
    metadata,
    sa.Column("job_id", sa.String(128), primary_key=True),
    sa.Column("url_key", sa.String(40), primary_key=True),
    sa.Column("stage", sa.String(16), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("flow_run_id", sa.String(64)),
    sa.Column("task_run_id", sa.String(64)),
    sa.Column("error_type", sa.String(64), nullable=False, index=True),
    sa.Column("error_message", sa.Text, nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("failure_count", sa.Integer, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("retryable", sa.Boolean, nullable=False),
    sa.Column("next_retry_at", sa.DateTime(timezone=True)),
    sa.Column("resolved_at", sa.DateTime(timezone=True)),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Index("ix_dead_letters_open", "job_id", "resolved_at", "stage"),
)


def upgrade() -> None:
    add_missing_columns(op.get_bind(), metadata)


def downgrade() -> None:
    raise NotImplementedError("the baseline is not undone: drop the database instead")

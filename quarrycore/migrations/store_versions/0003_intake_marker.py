"""The registration of a job's inputs under way: when it started and from which files, so
a run stopped half-way is continued by the next (``store/intake.py``).

Revision ID: 0003_intake_marker
Revises: 0002_fan_out
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_intake_marker"
down_revision = "0002_fan_out"
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("jobs")}
    for column in (
        sa.Column("intake_started", sa.DateTime(timezone=True)),
        sa.Column("intake_files", sa.JSON),
    ):
        if column.name not in have:
            op.add_column("jobs", column)


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("intake_files")
        batch.drop_column("intake_started")

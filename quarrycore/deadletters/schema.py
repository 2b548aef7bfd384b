"""The ``dead_letters`` table of ``dead_letter.db``, in a database of its own (its own
metadata), written only by :class:`~quarrycore.deadletters.store.DeadLetterStore`.

One row per (job, URL, stage), keyed like the document store's rows
(``quarrycore.urls.url_key``).
"""

from __future__ import annotations

import sqlalchemy as sa

dl_metadata = sa.MetaData()

dead_letters = sa.Table(
    "dead_letters",
    dl_metadata,
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

COLUMNS: tuple[str, ...] = tuple(c.name for c in dead_letters.columns if c.name != "url_key")

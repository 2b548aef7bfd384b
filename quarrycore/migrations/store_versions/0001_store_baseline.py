"""The document store as it was when its schema was first versioned: the tables
frozen as they stood (jobs, job_urls, documents, document_versions, warc_inputs,
minhash_bands, store_meta). It adopts a store made before versioning: creates what is
missing, adds the nullable columns later releases had added, then the store is stamped.

Revision ID: 0001_store_baseline
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from quarrycore.migrations import add_missing_columns

revision = "0001_store_baseline"
down_revision = None
branch_labels = None
depends_on = None

metadata = sa.MetaData()


jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("job_id", sa.String(128), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("settings", sa.JSON, nullable=False),
    sa.Column("lock_owner", sa.String(200)),
    sa.Column("lock_heartbeat", sa.DateTime(timezone=True)),
    sa.Column("lock_token", sa.BigInteger),
    sa.Column("lock_expires", sa.Float),
    sa.Column("url_count", sa.BigInteger),
    sa.Column("last_seq", sa.BigInteger),
    sa.Column("reextract_started", sa.DateTime(timezone=True)),
    sa.Column("visit_run", sa.Integer),
    sa.Column("recrawl_cutoff", sa.DateTime(timezone=True)),
    sa.Column("recrawl_cursor", sa.BigInteger),
)

job_urls = sa.Table(
    "job_urls",
    metadata,
    sa.Column("job_id", sa.String(128), primary_key=True),
    sa.Column("url_key", sa.String(40), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("depth", sa.Integer, nullable=False, server_default="0"),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("stage", sa.String(16)),
    sa.Column("error_type", sa.String(64)),
    sa.Column("duplicate_of", sa.Text),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("warc_file", sa.String(255)),
    sa.Column("warc_offset", sa.BigInteger),
    sa.Column("warc_length", sa.BigInteger),
    sa.Column("checked_at", sa.DateTime(timezone=True)),
    sa.Column("etag", sa.String(512)),
    sa.Column("last_modified", sa.String(64)),
    sa.Column("prior_state", sa.String(16)),
    sa.Column("visit", sa.String(16)),
    sa.Column("visit_run", sa.Integer),
    sa.Index("ix_job_urls_state_seq", "job_id", "state", "seq"),
)

documents = sa.Table(
    "documents",
    metadata,
    sa.Column("job_id", sa.String(128), primary_key=True),
    sa.Column("url_key", sa.String(40), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("final_url", sa.Text, nullable=False),
    sa.Column("status_code", sa.Integer, nullable=False),
    sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False, index=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("word_count", sa.Integer, nullable=False),
    sa.Column("title", sa.Text),
    sa.Column("author", sa.Text),
    sa.Column("date", sa.String(32)),
    sa.Column("language", sa.String(16)),
    sa.Column("language_score", sa.Float),
    sa.Column("description", sa.Text),
    sa.Column("canonical_url", sa.Text),
    sa.Column("site_name", sa.Text),
    sa.Column("encoding", sa.String(32)),
    sa.Column("out_links", sa.JSON, nullable=False),
    sa.Column("minhash", sa.LargeBinary),
    sa.Column("markdown", sa.Text),
    sa.Column("filter", sa.String(64)),
    sa.Column("filter_reason", sa.Text),
    sa.Column("version", sa.Integer),
    sa.Column("gone_at", sa.DateTime(timezone=True)),
)

document_versions = sa.Table(
    "document_versions",
    metadata,
    *[column._copy() for column in documents.columns if column.name not in ("version", "gone_at")],
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("warc_file", sa.String(255)),
    sa.Column("warc_offset", sa.BigInteger),
    sa.Column("warc_length", sa.BigInteger),
)

warc_inputs = sa.Table(
    "warc_inputs",
    metadata,
    sa.Column("job_id", sa.String(128), primary_key=True),
    sa.Column("file_key", sa.String(40), primary_key=True),
    sa.Column("file", sa.Text, nullable=False),
    sa.Column("next_offset", sa.BigInteger, nullable=False),
    sa.Column("done", sa.Boolean, nullable=False),
)

minhash_bands = sa.Table(
    "minhash_bands",
    metadata,
    sa.Column("job_id", sa.String(128), primary_key=True),
    sa.Column("band", sa.Integer, primary_key=True),
    sa.Column("key", sa.String(16), primary_key=True),
    sa.Column("url_key", sa.String(40), primary_key=True),
)

store_meta = sa.Table(
    "store_meta",
    metadata,
    sa.Column("key", sa.String(32), primary_key=True),
    sa.Column("value", sa.String(64), nullable=False),
)


def upgrade() -> None:
    add_missing_columns(op.get_bind(), metadata)


def downgrade() -> None:
    raise NotImplementedError("the baseline is not undone: drop the database instead")

"""Tables of the document store, each written by one module of this package.

- ``jobs`` (``jobs.py``): one row a job: status, settings, the lease of the run
  holding it;
- ``job_urls`` (``frontier.py``): every URL of every job, pending until the
  transaction that stores its document (or its failure) marks it done;
- ``documents`` and ``minhash_bands`` (``documents.py``): the stored documents, and
  the LSH band keys of their MinHash signatures;
- ``store_meta`` (``identity.py``): the store's own identity.

Rows are keyed by a hash of the URL (``quarrycore.urls.url_key``) so that long URLs fit
every database's index limits.
"""

from __future__ import annotations

import sqlalchemy as sa

from quarrycore import migrations

metadata = sa.MetaData()

# A URL is pending until its batch commits; then it is one of four verdicts: stored (its
# document kept), filtered (its document stored with the filter and reason; not exported
# by default), duplicate (a pointer to the kept document it repeats), failed (a fetch or
# extract error: these, and only these, go to the dead letters).
# A revisit (a recrawl) adds a fifth: gone (a page the job had answered 404 or 410; its
# document kept, marked gone with the time).
PENDING, STORED, FILTERED, DUPLICATE, FAILED, GONE = (
    "pending",
    "stored",
    "filtered",
    "duplicate",
    "failed",
    "gone",
)
# What the last visit of a URL found (job_urls.visit), counted per run of the job.
NEW, CHANGED, UNCHANGED = "new", "changed", "unchanged"


jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("job_id", sa.String(128), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("settings", sa.JSON, nullable=False),
    # The lease of the run that holds the job (jobs.py).
    sa.Column("lock_owner", sa.String(200)),
    sa.Column("lock_heartbeat", sa.DateTime(timezone=True)),
    # Fencing token: one more at every acquire, so a run that lost the lease cannot
    # commit even if it still believes it holds it.
    sa.Column("lock_token", sa.BigInteger),
    # When the lease expires, in seconds since the epoch on the database's clock (the
    # holder's TTL from its last heartbeat): no two machines' clocks are compared.
    sa.Column("lock_expires", sa.Float),
    # How many URLs the job has, and the last registration number given: kept with each
    # insert into job_urls, so a commit never counts the whole job (NULL: not yet known).
    sa.Column("url_count", sa.BigInteger),
    sa.Column("last_seq", sa.BigInteger),
    # Set while a re-extraction of the job is under way (reextract.py): a new run of it
    # continues instead of starting over.
    sa.Column("reextract_started", sa.DateTime(timezone=True)),
    # Recrawls (revisits.py): the number of the job's current visit round, and while a
    # round's URLs are being made due, its cutoff time and how far (seq) it has gone.
    sa.Column("visit_run", sa.Integer),
    sa.Column("recrawl_cutoff", sa.DateTime(timezone=True)),
    sa.Column("recrawl_cursor", sa.BigInteger),
    # A job fanned out (shards.py): into how many shards (NULL: one run does it all).
    sa.Column("shards", sa.Integer),
    # Set while the job's inputs are being registered (intake.py), with the files they
    # are read from: a run stopped half-way is continued by the next, from those files.
    sa.Column("intake_started", sa.DateTime(timezone=True)),
    sa.Column("intake_files", sa.JSON),
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
    # The URL whose kept document this one duplicates (state duplicate; error_type
    # Duplicate or NearDuplicate). For a filtered URL, error_type names the filter.
    sa.Column("duplicate_of", sa.Text),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # The WARC response record of the fetch that gave the URL its verdict (file relative
    # to the archive's root, offset and length of the record): what re-extraction reads.
    sa.Column("warc_file", sa.String(255)),
    sa.Column("warc_offset", sa.BigInteger),
    sa.Column("warc_length", sa.BigInteger),
    # Revisits: when the URL was last fetched or found unchanged, its validators (sent back
    # as If-None-Match / If-Modified-Since), its verdict before it was made due again, and
    # what its last visit found (new, changed, unchanged, gone, failed) in which round.
    sa.Column("checked_at", sa.DateTime(timezone=True)),
    sa.Column("etag", sa.String(512)),
    sa.Column("last_modified", sa.String(64)),
    sa.Column("prior_state", sa.String(16)),
    sa.Column("visit", sa.String(16)),
    sa.Column("visit_run", sa.Integer),
    # The URL's host[:port]: its politeness key, and of a job fanned out, what puts it in
    # a shard (job_hosts, shards.py).
    sa.Column("host", sa.String(255)),
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
    # A quality filter's verdict: NULL for a kept document; else the filter's name and
    # its reason (the document is kept in the store, out of default exports).
    sa.Column("filter", sa.String(64)),
    sa.Column("filter_reason", sa.Text),
    # Revisits: the version of the page this row holds (NULL: 1), and when the page was
    # found gone (404/410 on a revisit; NULL: it is there).
    sa.Column("version", sa.Integer),
    sa.Column("gone_at", sa.DateTime(timezone=True)),
)

# Earlier versions of revisited pages that changed: the documents row as it was, with
# the WARC record it was made from. The documents table holds each page's latest.
document_versions = sa.Table(
    "document_versions",
    metadata,
    *[column._copy() for column in documents.columns if column.name not in ("version", "gone_at")],
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("warc_file", sa.String(255)),
    sa.Column("warc_offset", sa.BigInteger),
    sa.Column("warc_length", sa.BigInteger),
)

# Input WARC files of a job (warcinput.py): how far each has been registered (the next
# record's offset) and whether it is done, so a resumed job never reads one from its
# start again.
warc_inputs = sa.Table(
    "warc_inputs",
    metadata,
    sa.Column("job_id", sa.String(128), primary_key=True),
    sa.Column("file_key", sa.String(40), primary_key=True),
    sa.Column("file", sa.Text, nullable=False),
    sa.Column("next_offset", sa.BigInteger, nullable=False),
    sa.Column("done", sa.Boolean, nullable=False),
)

# A job fanned out into shards (shards.py): each shard's lease (the same columns, and the
# same fencing, as the job's own in ``jobs``), the flow run that runs it, and its status.
job_shards = sa.Table(
    "job_shards",
    metadata,
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

# Which shard crawls each host of a job fanned out: one host, one shard, so a host's
# politeness limits hold across the whole job (a link to a new host gets one here).
job_hosts = sa.Table(
    "job_hosts",
    metadata,
    sa.Column("job_id", sa.String(128), primary_key=True),
    sa.Column("host", sa.String(255), primary_key=True),
    sa.Column("shard", sa.Integer, nullable=False),
)

# LSH bands of stored documents' MinHash signatures: near-duplicate candidates.
minhash_bands = sa.Table(
    "minhash_bands",
    metadata,
    sa.Column("job_id", sa.String(128), primary_key=True),
    sa.Column("band", sa.Integer, primary_key=True),
    sa.Column("key", sa.String(16), primary_key=True),
    sa.Column("url_key", sa.String(40), primary_key=True),
)

# This store's identity, a UUID written once (identity.py): a checkpoint names the store
# it mirrors by it, whatever URL the store is reached by. Also markers of data upgrades.
store_meta = sa.Table(
    "store_meta",
    metadata,
    sa.Column("key", sa.String(32), primary_key=True),
    sa.Column("value", sa.String(64), nullable=False),
)

DOCUMENT_FIELDS: tuple[str, ...] = tuple(
    c.name for c in documents.columns if c.name not in ("job_id", "url_key")
)


def create_tables(engine: sa.Engine) -> None:
    """Bring the store's schema to the newest revision (``quarrycore.migrations``), then
    rows of older versions to this one."""
    migrations.upgrade(engine, "store")
    _upgrade_verdicts(engine)


def _upgrade_verdicts(engine: sa.Engine) -> None:
    """Stores written before verdicts recorded duplicates as failed: they become
    duplicates (their pointer was kept). Pages an old store filtered stay failed: their
    text was not kept. Idempotent, and cheap once done (a marker in ``store_meta``)."""
    marker = "verdicts"
    with engine.begin() as conn:
        done = conn.execute(sa.select(store_meta.c.value).where(store_meta.c.key == marker))
        if done.first() is not None:
            return
        conn.execute(
            job_urls.update()
            .where(
                job_urls.c.state == FAILED,
                job_urls.c.error_type.in_(("Duplicate", "NearDuplicate")),
            )
            .values(state=DUPLICATE)
        )
        try:
            with conn.begin_nested():
                conn.execute(store_meta.insert().values(key=marker, value="1"))
        except sa.exc.IntegrityError:
            pass  # another process upgraded it at the same time

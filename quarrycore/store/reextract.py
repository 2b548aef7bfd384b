"""Re-extraction's statements: a job's archived URLs made pending again, their documents
dropped, and the pending ones read back with their WARC records.

A re-extraction is a crawl whose source is the archive. :func:`reopen` starts it, in one
transaction: every URL with an archived response whose verdict came from extraction
(stored, filtered, duplicate, or failed at extract) is pending again, its document and
band keys gone, and the job is marked as re-extracting. The batches then go through the
crawl's own steps and commit, in registration order, so dedup decides as the crawl did.
A run stopped half-way is continued by the next (the marker is set): nothing is done
twice.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from quarrycore.records import WarcRef
from quarrycore.store.schema import (
    DUPLICATE,
    FAILED,
    FILTERED,
    PENDING,
    STORED,
    documents,
    job_urls,
    jobs,
    minhash_bands,
)


def under_way(conn: sa.Connection, job_id: str) -> bool:
    started = conn.execute(
        sa.select(jobs.c.reextract_started).where(jobs.c.job_id == job_id)
    ).scalar_one_or_none()
    return started is not None


def archived_files(conn: sa.Connection, job_id: str) -> list[str]:
    """The WARC files the job's rows point at."""
    query = (
        sa.select(job_urls.c.warc_file)
        .where(job_urls.c.job_id == job_id, job_urls.c.warc_file.is_not(None))
        .distinct()
    )
    return sorted(str(name) for name in conn.execute(query).scalars())


def reopen(conn: sa.Connection, job_id: str) -> int:
    """Make the job's extracted, archived URLs pending again (see the module); returns
    how many. Does nothing for a job already re-extracting."""
    if under_way(conn, job_id):
        return 0
    redo = sa.and_(
        job_urls.c.job_id == job_id,
        job_urls.c.warc_file.is_not(None),
        sa.or_(
            job_urls.c.state.in_((STORED, FILTERED, DUPLICATE)),
            sa.and_(job_urls.c.state == FAILED, job_urls.c.stage == "extract"),
        ),
    )
    reopened = conn.execute(
        job_urls.update()
        .where(redo)
        .values(
            state=PENDING,
            stage=None,
            error_type=None,
            duplicate_of=None,
            updated_at=datetime.now(UTC),
        )
    ).rowcount
    again = sa.select(job_urls.c.url_key).where(
        job_urls.c.job_id == job_id,
        job_urls.c.state == PENDING,
        job_urls.c.warc_file.is_not(None),
    )
    for table in (documents, minhash_bands):
        conn.execute(table.delete().where(table.c.job_id == job_id, table.c.url_key.in_(again)))
    conn.execute(
        jobs.update().where(jobs.c.job_id == job_id).values(reextract_started=datetime.now(UTC))
    )
    return int(reopened)


def finish(conn: sa.Connection, job_id: str) -> None:
    """The re-extraction is done: the next one starts over."""
    conn.execute(jobs.update().where(jobs.c.job_id == job_id).values(reextract_started=None))


def pending_page(
    conn: sa.Connection, job_id: str, after_seq: int, limit: int
) -> list[tuple[str, int, int, WarcRef]]:
    """Up to ``limit`` pending URLs with an archived response after ``after_seq``, in
    registration order: (URL, seq, depth, record)."""
    rows = conn.execute(
        sa.select(
            job_urls.c.url,
            job_urls.c.seq,
            job_urls.c.depth,
            job_urls.c.warc_file,
            job_urls.c.warc_offset,
            job_urls.c.warc_length,
        )
        .where(
            job_urls.c.job_id == job_id,
            job_urls.c.state == PENDING,
            job_urls.c.warc_file.is_not(None),
            job_urls.c.seq > after_seq,
        )
        .order_by(job_urls.c.seq)
        .limit(limit)
    ).all()
    return [
        (row.url, row.seq, row.depth, WarcRef(row.warc_file, row.warc_offset, row.warc_length))
        for row in rows
    ]


def records(conn: sa.Connection, job_id: str) -> dict[str, tuple[str, WarcRef | None]]:
    """Every URL of the job with its state and its archived response, if any."""
    rows = conn.execute(
        sa.select(
            job_urls.c.url,
            job_urls.c.state,
            job_urls.c.warc_file,
            job_urls.c.warc_offset,
            job_urls.c.warc_length,
        ).where(job_urls.c.job_id == job_id)
    ).all()
    return {
        row.url: (
            row.state,
            WarcRef(row.warc_file, row.warc_offset, row.warc_length) if row.warc_file else None,
        )
        for row in rows
    }

"""Revisits (recrawls): making a job's URLs due again, and what a revisit found.

A recrawl round starts with :func:`begin_round` (the job's ``visit_run`` one more, the
cutoff time kept) and makes the URLs whose last check is older than the cutoff pending
again with :func:`make_due`, a window of registration numbers a transaction; the cursor
is kept with the job, so a run killed half-way continues the same round with the same
cutoff (no URL left half-due, none made due twice). Each due URL keeps its verdict in
``prior_state`` until its revisit commits:

- 304, or the same normalised text: **unchanged** (:func:`keep`): the verdict restored,
  the check time and validators updated, no new version, no extraction of a 304;
- a new text: **changed**: the old documents row goes to ``document_versions`` with its
  WARC record (:func:`archive_versions`), the new one replaces it with the next version;
- 404 or 410 for a page that had a document: **gone** (:func:`mark_gone`), its document
  kept with the time.

Every statement on ``document_versions`` and on the revisit columns is in this module.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from quarrycore.records import Validators
from quarrycore.store.documents import Which, verdict_filter
from quarrycore.store.schema import (
    DUPLICATE,
    FAILED,
    FILTERED,
    GONE,
    PENDING,
    STORED,
    UNCHANGED,
    document_versions,
    documents,
    job_urls,
    jobs,
)
from quarrycore.urls import url_key

_DONE = (STORED, FILTERED, DUPLICATE, FAILED, GONE)


@dataclass(frozen=True, slots=True)
class Prior:
    """What a due URL was before its revisit."""

    state: str  # its verdict before it was made due
    content_hash: str | None  # its document's (None: it had none)
    version: int  # its document's version


def current_run(conn: sa.Connection, job_id: str) -> int:
    run = conn.execute(sa.select(jobs.c.visit_run).where(jobs.c.job_id == job_id)).scalar()
    return int(run or 1)


def begin_round(conn: sa.Connection, job_id: str, cutoff: datetime) -> tuple[datetime, int | None]:
    """Start a recrawl round, or find the one under way: (its cutoff, the cursor its
    making due stopped at; None when every URL of it was made due already and revisits
    are outstanding: the run continues them, no new round)."""
    row = conn.execute(
        sa.select(jobs.c.recrawl_cutoff, jobs.c.recrawl_cursor).where(jobs.c.job_id == job_id)
    ).one()
    if row.recrawl_cursor is not None and row.recrawl_cutoff is not None:
        return _aware(row.recrawl_cutoff), int(row.recrawl_cursor)
    outstanding = conn.execute(
        sa.select(job_urls.c.url_key)
        .where(
            job_urls.c.job_id == job_id,
            job_urls.c.state == PENDING,
            job_urls.c.prior_state.is_not(None),
        )
        .limit(1)
    ).first()
    if outstanding is not None:
        return cutoff, None
    conn.execute(
        jobs.update()
        .where(jobs.c.job_id == job_id)
        .values(
            visit_run=sa.func.coalesce(jobs.c.visit_run, 1) + 1,
            recrawl_cutoff=cutoff,
            recrawl_cursor=0,
        )
    )
    return cutoff, 0


def make_due(
    conn: sa.Connection, job_id: str, cutoff: datetime, after_seq: int, window: int
) -> tuple[int, int | None]:
    """Make due the done URLs with seq in (after_seq, after_seq + window] last checked
    before ``cutoff``; returns (how many, the next cursor or None at the end)."""
    last = conn.execute(sa.select(jobs.c.last_seq).where(jobs.c.job_id == job_id)).scalar()
    upper = after_seq + window
    checked = sa.func.coalesce(job_urls.c.checked_at, job_urls.c.updated_at)
    made = conn.execute(
        job_urls.update()
        .where(
            job_urls.c.job_id == job_id,
            job_urls.c.seq > after_seq,
            job_urls.c.seq <= upper,
            job_urls.c.state.in_(_DONE),
            checked < cutoff,
        )
        .values(prior_state=job_urls.c.state, state=PENDING)
    ).rowcount
    done = last is None or upper >= int(last)
    conn.execute(
        jobs.update()
        .where(jobs.c.job_id == job_id)
        .values(
            recrawl_cursor=None if done else upper,
            recrawl_cutoff=None if done else cutoff,
        )
    )
    return int(made), None if done else upper


def priors(conn: sa.Connection, job_id: str, urls: Sequence[str]) -> dict[str, Prior]:
    """The due URLs among ``urls`` (those being revisited) and what they were."""
    keys = [url_key(url) for url in urls]
    if not keys:
        return {}
    rows = conn.execute(
        sa.select(
            job_urls.c.url,
            job_urls.c.prior_state,
            documents.c.content_hash,
            documents.c.version,
        )
        .select_from(
            job_urls.outerjoin(
                documents,
                sa.and_(
                    documents.c.job_id == job_urls.c.job_id,
                    documents.c.url_key == job_urls.c.url_key,
                ),
            )
        )
        .where(
            job_urls.c.job_id == job_id,
            job_urls.c.url_key.in_(keys),
            job_urls.c.prior_state.is_not(None),
        )
    ).all()
    return {
        row.url: Prior(row.prior_state, row.content_hash, int(row.version or 1)) for row in rows
    }


def keep(
    conn: sa.Connection,
    job_id: str,
    unchanged: Mapping[str, Validators],
    run: int,
) -> None:
    """Revisits that found the page unchanged: the verdict restored, checked now."""
    if not unchanged:
        return
    statement = (
        job_urls.update()
        .where(
            job_urls.c.job_id == sa.bindparam("b_job"),
            job_urls.c.url_key == sa.bindparam("b_key"),
        )
        .values(
            state=job_urls.c.prior_state,
            prior_state=None,
            visit=UNCHANGED,
            visit_run=run,
            checked_at=datetime.now(UTC),
            etag=sa.func.coalesce(sa.bindparam("b_etag"), job_urls.c.etag),
            last_modified=sa.func.coalesce(sa.bindparam("b_lm"), job_urls.c.last_modified),
            updated_at=datetime.now(UTC),
        )
    )
    conn.execute(
        statement,
        [
            {"b_job": job_id, "b_key": url_key(url), "b_etag": v.etag, "b_lm": v.last_modified}
            for url, v in unchanged.items()
        ],
    )


def archive_versions(conn: sa.Connection, job_id: str, urls: Sequence[str]) -> None:
    """Copy the current documents rows of ``urls`` (changed pages) to
    ``document_versions``, each with the WARC record it was made from."""
    keys = [url_key(url) for url in urls]
    if not keys:
        return
    copied = [c.name for c in document_versions.columns if c.name not in _VERSION_OWN]
    select = (
        sa.select(
            *[documents.c[name] for name in copied],
            sa.func.coalesce(documents.c.version, 1),
            job_urls.c.warc_file,
            job_urls.c.warc_offset,
            job_urls.c.warc_length,
        )
        .select_from(
            documents.join(
                job_urls,
                sa.and_(
                    job_urls.c.job_id == documents.c.job_id,
                    job_urls.c.url_key == documents.c.url_key,
                ),
            )
        )
        .where(documents.c.job_id == job_id, documents.c.url_key.in_(keys))
    )
    conn.execute(document_versions.insert().from_select([*copied, *_VERSION_OWN], select))


_VERSION_OWN = ("version", "warc_file", "warc_offset", "warc_length")


def last_versions(conn: sa.Connection, job_id: str, urls: Sequence[str]) -> dict[str, int]:
    """The highest earlier version each of ``urls`` has in ``document_versions``."""
    keys = [url_key(url) for url in urls]
    if not keys:
        return {}
    rows = conn.execute(
        sa.select(document_versions.c.url, sa.func.max(document_versions.c.version))
        .where(document_versions.c.job_id == job_id, document_versions.c.url_key.in_(keys))
        .group_by(document_versions.c.url)
    ).all()
    return {str(url): int(top) for url, top in rows}


def gone_candidates(conn: sa.Connection, job_id: str, urls: Sequence[str]) -> set[str]:
    """Which of ``urls`` (answered 404/410) are due revisits of pages with a document."""
    return {url for url, prior in priors(conn, job_id, urls).items() if prior.content_hash}


def mark_gone(conn: sa.Connection, job_id: str, urls: Sequence[str], run: int) -> None:
    """Pages the job had that answered 404/410: gone now, their document kept."""
    keys = [url_key(url) for url in urls]
    if not keys:
        return
    now = datetime.now(UTC)
    conn.execute(
        job_urls.update()
        .where(job_urls.c.job_id == job_id, job_urls.c.url_key.in_(keys))
        .values(
            state=GONE,
            prior_state=None,
            visit=GONE,
            visit_run=run,
            checked_at=now,
            updated_at=now,
        )
    )
    conn.execute(
        documents.update()
        .where(documents.c.job_id == job_id, documents.c.url_key.in_(keys))
        .values(gone_at=now)
    )


def version_counts(conn: sa.Connection, job_id: str) -> dict[str, int]:
    """URL -> how many versions the job has of it (earlier ones and the latest)."""
    earlier: dict[str, int] = dict(
        conn.execute(
            sa.select(document_versions.c.url, sa.func.count())
            .where(document_versions.c.job_id == job_id)
            .group_by(document_versions.c.url)
        ).all()
    )
    latest = conn.execute(sa.select(documents.c.url).where(documents.c.job_id == job_id))
    return {url: int(earlier.get(url, 0)) + 1 for url in latest.scalars()}


def iter_versions(
    engine: sa.Engine, job_id: str | None, *, which: Which, since: datetime | None
) -> Iterator[dict[str, Any]]:
    """Earlier versions of changed pages as column dicts, streamed (``since``: those
    stored since then)."""
    query = sa.select(document_versions).order_by(
        document_versions.c.job_id, document_versions.c.stored_at, document_versions.c.url_key
    )
    if job_id is not None:
        query = query.where(document_versions.c.job_id == job_id)
    query = query.where(verdict_filter(document_versions, which))
    if since is not None:
        query = query.where(document_versions.c.stored_at >= since)
    with engine.connect() as conn:
        for row in conn.execution_options(yield_per=1000).execute(query).mappings():
            yield dict(row)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

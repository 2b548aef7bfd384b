"""The document store: documents and the per-job record of which URLs are done.

It is the commit point of the pipeline. A batch's documents and the states of its
URLs are written in one transaction, so a crash leaves a URL either pending (to be
fetched again) or done, never half-stored. Everything else (counts, progress,
checkpoints) is read from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from quarrycore.extract.neardup import NearDupConfig
from quarrycore.records import Document, Failure
from quarrycore.store.dedup import split_duplicates
from quarrycore.store.engine import make_engine, upsert
from quarrycore.store.schema import (
    DOCUMENT_FIELDS,
    FAILED,
    PENDING,
    STORED,
    create_tables,
    documents,
    job_urls,
    jobs,
    url_key,
)

_INSERT_CHUNK = 5000


@dataclass(frozen=True, slots=True)
class JobCounts:
    """Where a job stands, as the store knows it."""

    job_id: str
    pending: int = 0
    stored: int = 0
    failed: int = 0
    failures_by_type: dict[str, int] = field(default_factory=dict)

    @property
    def processed(self) -> int:
        return self.stored + self.failed

    @property
    def total(self) -> int:
        return self.pending + self.processed


class DocumentStore:
    """Owns the ``jobs``, ``job_urls`` and ``documents`` tables of one database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        create_tables(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- jobs -------------------------------------------------------------------------
    def job_exists(self, job_id: str) -> bool:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(jobs.c.job_id).where(jobs.c.job_id == job_id)).first()
        return row is not None

    def start_job(self, job_id: str, settings: dict[str, Any]) -> None:
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            upsert(
                conn,
                jobs,
                [
                    {
                        "job_id": job_id,
                        "status": "running",
                        "created_at": now,
                        "updated_at": now,
                        "settings": settings,
                    }
                ],
                keys=["job_id"],
                update=["status", "updated_at"],
            )

    def set_job_status(self, job_id: str, status: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                jobs.update()
                .where(jobs.c.job_id == job_id)
                .values(status=status, updated_at=datetime.now(UTC))
            )

    def job_settings(self, job_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(jobs.c.settings).where(jobs.c.job_id == job_id)
            ).scalar_one_or_none()
        return dict(value or {})

    def job_status(self, job_id: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(jobs.c.status).where(jobs.c.job_id == job_id)
            ).scalar_one_or_none()

    def job_ids(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(sa.select(jobs.c.job_id).order_by(jobs.c.created_at)).scalars()
            )

    # -- the frontier -----------------------------------------------------------------
    def add_urls(self, job_id: str, urls: Iterable[str], *, invalid: Sequence[Failure] = ()) -> int:
        """Register URLs as pending for the job, in order, and invalid inputs as failed at
        stage ``validate``; URLs the job already has keep their state. Returns the number
        of URLs new to the job."""
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            seq = conn.execute(
                sa.select(sa.func.coalesce(sa.func.max(job_urls.c.seq), 0)).where(
                    job_urls.c.job_id == job_id
                )
            ).scalar_one()
            before = self._count(conn, job_id)
            chunk: list[dict[str, Any]] = []
            for url, failure in _chain_entries(urls, invalid):
                seq += 1
                chunk.append(
                    {
                        "job_id": job_id,
                        "url_key": url_key(url),
                        "url": url,
                        "seq": seq,
                        "depth": 0,
                        "state": PENDING if failure is None else FAILED,
                        "stage": None if failure is None else failure.stage,
                        "error_type": None if failure is None else failure.error_type,
                        "updated_at": now,
                    }
                )
                if len(chunk) >= _INSERT_CHUNK:
                    upsert(conn, job_urls, chunk, keys=["job_id", "url_key"])
                    chunk = []
            upsert(conn, job_urls, chunk, keys=["job_id", "url_key"])
            return self._count(conn, job_id) - before

    @staticmethod
    def _count(conn: sa.Connection, job_id: str) -> int:
        return int(
            conn.execute(
                sa.select(sa.func.count()).select_from(job_urls).where(job_urls.c.job_id == job_id)
            ).scalar_one()
        )

    def iter_pending(self, job_id: str, batch_size: int) -> Iterator[list[str]]:
        for page in self.iter_pending_with_depth(job_id, batch_size):
            yield [url for url, _ in page]

    def iter_pending_with_depth(
        self, job_id: str, batch_size: int
    ) -> Iterator[list[tuple[str, int]]]:
        """Pending URLs (with their link depth) in registration order, a batch at a time
        (keyset pagination, so URLs committed meanwhile do not shift the pages)."""
        last_seq = 0
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    sa.select(job_urls.c.url, job_urls.c.seq, job_urls.c.depth)
                    .where(
                        job_urls.c.job_id == job_id,
                        job_urls.c.state == PENDING,
                        job_urls.c.seq > last_seq,
                    )
                    .order_by(job_urls.c.seq)
                    .limit(batch_size)
                ).all()
            if not rows:
                return
            last_seq = rows[-1].seq
            yield [(row.url, row.depth) for row in rows]

    def pending_urls(self, job_id: str, limit: int) -> list[str] | None:
        """All pending URLs of the job in order, or ``None`` when there are more than
        ``limit`` (then the store itself is the list)."""
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    sa.select(job_urls.c.url)
                    .where(job_urls.c.job_id == job_id, job_urls.c.state == PENDING)
                    .order_by(job_urls.c.seq)
                    .limit(limit + 1)
                )
                .scalars()
                .all()
            )
        return None if len(rows) > limit else list(rows)

    def requeue(self, job_id: str, urls: Sequence[str]) -> int:
        """Make failed URLs of the job pending again (a dead-letter replay); URLs the job
        does not have are added. Returns how many will be processed."""
        keys = [url_key(u) for u in urls]
        with self.engine.begin() as conn:
            requeued = conn.execute(
                job_urls.update()
                .where(
                    job_urls.c.job_id == job_id,
                    job_urls.c.url_key.in_(keys),
                    job_urls.c.state == FAILED,
                )
                .values(state=PENDING, stage=None, error_type=None, updated_at=datetime.now(UTC))
            ).rowcount
        return requeued + self.add_urls(job_id, urls)

    # -- the commit point -------------------------------------------------------------
    def commit_batch(
        self,
        job_id: str,
        docs: Sequence[Document],
        failures: Sequence[Failure],
        *,
        links: Sequence[tuple[str, int]] = (),
        max_urls: int | None = None,
        near_dup: NearDupConfig | None = None,
    ) -> int:
        """Store documents and mark their URLs stored, and failures failed, atomically;
        a document whose text the job already has (same normalised-text hash) is not
        stored again: its URL is marked a ``Duplicate`` of the stored one, in the same
        transaction, so a resume never makes a document a duplicate of itself. The links
        the stored documents lead to are enqueued in that transaction too (once per job,
        at most ``max_urls`` URLs in the job). Returns the number of duplicates."""
        now = datetime.now(UTC)
        mark = (
            job_urls.update()
            .where(
                job_urls.c.job_id == sa.bindparam("b_job"),
                job_urls.c.url_key == sa.bindparam("b_key"),
            )
            .values(
                state=sa.bindparam("b_state"),
                stage=sa.bindparam("b_stage"),
                error_type=sa.bindparam("b_error"),
                duplicate_of=sa.bindparam("b_dup"),
                updated_at=now,
            )
        )
        with self.engine.begin() as conn:
            kept, duplicates = split_duplicates(conn, job_id, docs, near_dup)
            marks = [_mark(job_id, d.url, STORED, None, None) for d in kept]
            marks += [
                _mark(job_id, d.url, FAILED, "filter", kind, of) for d, of, kind in duplicates
            ]
            marks += [_mark(job_id, f.url, FAILED, f.stage, f.error_type) for f in failures]
            upsert(
                conn,
                documents,
                [_document_row(job_id, d, now) for d in kept],
                keys=["job_id", "url_key"],
                update=list(DOCUMENT_FIELDS),
            )
            if marks:
                conn.execute(mark, marks)
            if links:
                self._enqueue_links(conn, job_id, links, max_urls, now)
        return len(duplicates)

    def _enqueue_links(
        self,
        conn: sa.Connection,
        job_id: str,
        links: Sequence[tuple[str, int]],
        max_urls: int | None,
        now: datetime,
    ) -> None:
        wanted = {url_key(url): (url, depth) for url, depth in reversed(links)}
        known = set(
            conn.execute(
                sa.select(job_urls.c.url_key).where(
                    job_urls.c.job_id == job_id, job_urls.c.url_key.in_(list(wanted))
                )
            ).scalars()
        )
        fresh = [
            (key, *wanted[key])
            for key in dict.fromkeys(url_key(u) for u, _ in links)
            if key not in known
        ]
        if max_urls is not None:
            fresh = fresh[: max(0, max_urls - self._count(conn, job_id))]
        if not fresh:
            return
        seq = conn.execute(
            sa.select(sa.func.coalesce(sa.func.max(job_urls.c.seq), 0)).where(
                job_urls.c.job_id == job_id
            )
        ).scalar_one()
        rows = [
            {
                "job_id": job_id,
                "url_key": key,
                "url": url,
                "seq": seq + i,
                "depth": depth,
                "state": PENDING,
                "updated_at": now,
            }
            for i, (key, url, depth) in enumerate(fresh, start=1)
        ]
        upsert(conn, job_urls, rows, keys=["job_id", "url_key"])

    # -- reading ----------------------------------------------------------------------
    def counts(self, job_id: str) -> JobCounts:
        with self.engine.connect() as conn:
            by_state: dict[str, int] = dict(
                conn.execute(
                    sa.select(job_urls.c.state, sa.func.count())
                    .where(job_urls.c.job_id == job_id)
                    .group_by(job_urls.c.state)
                )
                .tuples()
                .all()
            )
            by_type = (
                conn.execute(
                    sa.select(job_urls.c.stage, job_urls.c.error_type, sa.func.count())
                    .where(job_urls.c.job_id == job_id, job_urls.c.state == FAILED)
                    .group_by(job_urls.c.stage, job_urls.c.error_type)
                )
                .tuples()
                .all()
            )
        return JobCounts(
            job_id=job_id,
            pending=by_state.get(PENDING, 0),
            stored=by_state.get(STORED, 0),
            failed=by_state.get(FAILED, 0),
            failures_by_type={f"{stage}/{etype}": n for stage, etype, n in by_type},
        )

    def url_states(self, job_id: str) -> dict[str, tuple[str, str | None]]:
        """Every URL of the job with its state and error type (for tests and tools)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(job_urls.c.url, job_urls.c.state, job_urls.c.error_type).where(
                    job_urls.c.job_id == job_id
                )
            ).all()
        return {row.url: (row.state, row.error_type) for row in rows}

    def duplicates(self, job_id: str) -> dict[str, str]:
        """URL -> the URL whose stored document it duplicates."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(job_urls.c.url, job_urls.c.duplicate_of).where(
                    job_urls.c.job_id == job_id, job_urls.c.duplicate_of.is_not(None)
                )
            ).all()
        return {row.url: row.duplicate_of for row in rows}

    def iter_documents(self, job_id: str | None = None) -> Iterator[dict[str, Any]]:
        query = sa.select(documents).order_by(
            documents.c.job_id, documents.c.stored_at, documents.c.url_key
        )
        if job_id is not None:
            query = query.where(documents.c.job_id == job_id)
        with self.engine.connect() as conn:
            for row in conn.execution_options(yield_per=1000).execute(query).mappings():
                yield dict(row)


def _mark(
    job_id: str,
    url: str,
    state: str,
    stage: str | None,
    error: str | None,
    duplicate_of: str | None = None,
) -> dict[str, Any]:
    return {
        "b_job": job_id,
        "b_key": url_key(url),
        "b_state": state,
        "b_stage": stage,
        "b_error": error,
        "b_dup": duplicate_of,
    }


def _document_row(job_id: str, doc: Document, now: datetime) -> dict[str, Any]:
    row = asdict(doc)
    row["out_links"] = list(doc.out_links)
    row.update(job_id=job_id, url_key=url_key(doc.url), stored_at=now)
    return row


def _chain_entries(
    urls: Iterable[str], invalid: Sequence[Failure]
) -> Iterator[tuple[str, Failure | None]]:
    for url in urls:
        yield url, None
    for failure in invalid:
        yield failure.url, failure

"""The document store: documents and the per-job record of which URLs are done.

It is the commit point of the pipeline. A batch's documents and the states of its URLs
are written in one transaction, so a crash leaves a URL either pending (to be fetched
again) or done, never half-stored. Everything else (counts, progress, checkpoints) is
read from here. This class holds the engine and the transactions; the SQL of each table
is in the module that owns it (see schema.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from quarrycore.db import bulk_cache, make_engine, refresh_statistics
from quarrycore.extract.neardup import NearDupConfig
from quarrycore.records import Document, Failure, NotModified, Validators, WarcRef
from quarrycore.store import (
    documents,
    frontier,
    identity,
    jobs,
    reextract,
    revisits,
    warcinput,
)
from quarrycore.store.commit import BatchOutcome, Verdicts, commit
from quarrycore.store.frontier import JobCounts, Mark
from quarrycore.store.jobs import JobLock
from quarrycore.store.schema import DUPLICATE, FILTERED, STORED, create_tables, job_urls
from quarrycore.store.shards import ShardBook


@dataclass(frozen=True, slots=True)
class Moves:
    """What new verdicts changed: kept documents now filtered, filtered ones filtered for
    another reason, filtered ones now kept (stored) or found to repeat a kept one."""

    to_filtered: int = 0
    refiltered: int = 0
    to_stored: int = 0
    to_duplicate: int = 0


Versions = Literal["latest", "all"]  # which versions of each page a reader wants


class DocumentStore:
    """The ``jobs``, ``job_urls``, ``documents`` and ``minhash_bands`` tables of one
    database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        create_tables(self.engine)
        self._store_id: str | None = None

    @property
    def store_id(self) -> str:
        """This store's identity (a UUID written in it once)."""
        if self._store_id is None:
            with self.engine.begin() as conn:
                self._store_id = identity.store_id(conn)
        return self._store_id

    def close(self) -> None:
        self.engine.dispose()

    # -- jobs -------------------------------------------------------------------------
    def job_exists(self, job_id: str) -> bool:
        with self.engine.connect() as conn:
            return jobs.job_exists(conn, job_id)

    def start_job(self, job_id: str, settings: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            jobs.start_job(conn, job_id, settings)

    def set_job_status(self, job_id: str, status: str) -> None:
        with self.engine.begin() as conn:
            jobs.set_job_status(conn, job_id, status)

    def job_settings(self, job_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            return jobs.job_settings(conn, job_id)

    def job_status(self, job_id: str) -> str | None:
        with self.engine.connect() as conn:
            return jobs.job_status(conn, job_id)

    def job_ids(self) -> list[str]:
        with self.engine.connect() as conn:
            return jobs.job_ids(conn)

    def lease(self, job_id: str, *, ttl: float, shard: int | None = None) -> JobLock:
        """The lease of ``job_id`` (or of its ``shard``) for this run (``acquire`` it)."""
        return JobLock(self.engine, job_id, ttl=ttl, shard=shard)

    # -- the frontier -----------------------------------------------------------------
    def add_urls(
        self,
        job_id: str,
        urls: Iterable[str],
        *,
        invalid: Sequence[Failure] = (),
        limit: int | None = None,
    ) -> int:
        """Register URLs as pending for the job, in order, and invalid inputs as failed at
        stage ``validate``; URLs the job already has keep their state; at most ``limit``
        URLs in the job. Returns the number of URLs new to the job."""
        with self.engine.begin() as conn, bulk_cache(conn):
            # A registration may run beside the job's commits (which add links): its
            # registration numbers and URL count are read, then written.
            jobs.serialize_commits(conn, job_id)
            added = frontier.add(conn, job_id, urls, invalid, limit=limit)
            total = (jobs.url_counters(conn, job_id) or (0, 0))[0]
        if self.engine.dialect.name == "postgresql":
            with self.engine.begin() as conn:  # its own short transaction: ANALYZE locks
                refresh_statistics(conn, job_urls.c.job_id, job_id, total)
        return added

    def iter_pending(self, job_id: str, batch_size: int) -> Iterator[list[str]]:
        for page in self.iter_pending_with_depth(job_id, batch_size):
            yield [url for url, _ in page]

    def iter_pending_with_depth(
        self, job_id: str, batch_size: int
    ) -> Iterator[list[tuple[str, int]]]:
        """Pending URLs (with their link depth) in registration order, a batch at a time."""
        return frontier.iter_pages(self.engine, job_id, batch_size)

    def pending_page(
        self, job_id: str, after_seq: int, limit: int, shard: int | None = None
    ) -> list[tuple[str, int, int, Validators]]:
        """Up to ``limit`` pending (URL, seq, depth, validators) after ``after_seq``."""
        with self.engine.connect() as conn:
            return frontier.pending_page(conn, job_id, after_seq, limit, shard)

    def pending_urls(self, job_id: str, limit: int, shard: int | None = None) -> list[str] | None:
        """All pending URLs of the job (or shard) in order, or ``None`` when there are more
        than ``limit`` (then the store itself is the list)."""
        with self.engine.connect() as conn:
            return frontier.pending_urls(conn, job_id, limit, shard)

    def requeue(self, job_id: str, urls: Sequence[str]) -> int:
        """Make failed URLs of the job pending again (a dead-letter replay); URLs the job
        does not have are added. Returns how many will be processed."""
        with self.engine.begin() as conn:
            requeued = frontier.requeue(conn, job_id, urls)
        return requeued + self.add_urls(job_id, urls)

    # -- the commit point -------------------------------------------------------------
    def commit_batch(
        self,
        job_id: str,
        docs: Sequence[Document],
        failures: Sequence[Failure],
        *,
        not_modified: Sequence[NotModified] = (),
        validators: Mapping[str, Validators] | None = None,
        warc: Mapping[str, WarcRef] | None = None,
        changed_only: bool = True,
        links: Sequence[tuple[str, int]] = (),
        max_urls: int | None = None,
        near_dup: NearDupConfig | None = None,
        lease: JobLock | None = None,
    ) -> Verdicts:
        """Store documents and mark their URLs stored, and failures failed, atomically;
        a document whose text the job already has (same normalised-text hash, or a near
        duplicate) is not stored again: its URL is marked a ``Duplicate`` (or
        ``NearDuplicate``) of the stored one, in the same transaction, so a resume never
        makes a document a duplicate of itself. The links the stored documents lead to
        are enqueued in that transaction too (once per job, at most ``max_urls`` URLs in
        the job). With ``lease``, the transaction first proves this run still holds the
        job (:class:`JobLockLost` otherwise: nothing is written). A document a quality
        filter rejected is stored with its verdict and its URL marked ``filtered``; it
        takes no part in deduplication. Revisits (a recrawl's due URLs) are unchanged,
        changed (a new version) or gone: ``store/commit.py``. ``warc`` and
        ``validators`` (URL -> this visit's record and validators) are recorded on each
        URL's row. Returns what each URL became."""
        outcome = BatchOutcome(
            docs=docs,
            failures=failures,
            not_modified=not_modified,
            validators=validators,
            warc=warc,
            changed_only=changed_only,
        )
        with self.engine.begin() as conn:
            jobs.serialize_commits(conn, job_id)  # first: before anything is read
            if lease is not None:
                lease.fence(conn)
            verdicts = commit(conn, job_id, outcome, near_dup=near_dup)
            if links:
                frontier.enqueue_links(conn, job_id, links, max_urls)
        return verdicts

    def gone_candidates(self, job_id: str, urls: Sequence[str]) -> set[str]:
        """Which of ``urls`` (answered 404/410) are revisits of pages the job has: gone,
        not failed (and no dead letters)."""
        if not urls:
            return set()
        with self.engine.connect() as conn:
            return revisits.gone_candidates(conn, job_id, urls)

    # -- new verdicts for stored documents (refilter) -----------------------------------
    def stored_page(self, job_id: str, after_key: str, limit: int) -> list[Document]:
        """Stored documents (kept and filtered) after ``after_key``, in url_key order."""
        with self.engine.connect() as conn:
            return documents.stored_page(conn, job_id, after_key, limit)

    def rejudge(
        self,
        job_id: str,
        judged: Sequence[tuple[Document, Document]],
        *,
        near_dup: NearDupConfig | None = None,
        lease: JobLock | None = None,
    ) -> Moves:
        """Give stored documents new verdicts, atomically: (as stored, as judged now)
        pairs. Kept -> filtered: verdict written, its band keys dropped. Filtered -> kept:
        deduplicated against the kept documents first, so it becomes ``stored``, or
        ``duplicate`` of a kept one (its row then dropped, as a crawl would not have
        stored it)."""
        changed = [
            (b, a) for b, a in judged if (b.filter, b.filter_reason) != (a.filter, a.filter_reason)
        ]
        to_filtered = [a for b, a in changed if not a.kept]
        back = [a for b, a in changed if a.kept]
        with self.engine.begin() as conn:
            jobs.serialize_commits(conn, job_id)
            if lease is not None:
                lease.fence(conn)
            documents.set_verdict(conn, job_id, to_filtered)
            documents.forget(conn, job_id, [a.url for b, a in changed if b.kept], rows=False)
            kept, repeats = documents.split_duplicates(conn, job_id, back, near_dup)
            documents.set_verdict(conn, job_id, kept)
            documents.forget(conn, job_id, [r.document.url for r in repeats], rows=True)
            marks = [Mark(d.url, FILTERED, "filter", d.filter) for d in to_filtered]
            marks += [Mark(d.url, STORED) for d in kept]
            marks += [
                Mark(r.document.url, DUPLICATE, "filter", r.kind.__name__, r.of) for r in repeats
            ]
            frontier.mark(conn, job_id, marks, fetched=False)
        return Moves(
            to_filtered=sum(1 for b, a in changed if b.kept),
            refiltered=sum(1 for b, a in changed if not b.kept and not a.kept),
            to_stored=len(kept),
            to_duplicate=len(repeats),
        )

    # -- revisits (revisits.py) ----------------------------------------------------------
    def begin_recrawl(
        self, job_id: str, cutoff: datetime, *, lease: JobLock | None = None
    ) -> tuple[datetime, int | None]:
        """Start a recrawl round, or find the one under way: (its cutoff, where making it
        due goes on; None: it is all due, its revisits go on)."""
        with self.engine.begin() as conn:
            if lease is not None:
                lease.fence(conn)
            return revisits.begin_round(conn, job_id, cutoff)

    def make_due(
        self,
        job_id: str,
        cutoff: datetime,
        after_seq: int,
        window: int,
        *,
        lease: JobLock | None = None,
    ) -> tuple[int, int | None]:
        """One window of a round's URLs made due: (how many, the next cursor or None)."""
        with self.engine.begin() as conn:
            if lease is not None:
                lease.fence(conn)
            return revisits.make_due(conn, job_id, cutoff, after_seq, window)

    def version_counts(self, job_id: str) -> dict[str, int]:
        """URL -> how many versions of its page the job has."""
        with self.engine.connect() as conn:
            return revisits.version_counts(conn, job_id)

    # -- input WARC files (warcinput.py) -------------------------------------------------
    def warc_progress(self, job_id: str, name: str) -> tuple[int, bool]:
        """(the offset to go on from, whether it is done) of an input WARC file."""
        with self.engine.connect() as conn:
            return warcinput.progress(conn, job_id, name)

    def warc_input_progress(self, job_id: str) -> dict[str, int]:
        """Each input WARC file of the job -> the offset reading goes on from (-1: done)."""
        with self.engine.connect() as conn:
            return warcinput.all_progress(conn, job_id)

    def register_warc_records(
        self,
        job_id: str,
        name: str,
        records: Sequence[tuple[str, WarcRef]],
        *,
        next_offset: int,
        done: bool,
        failures: Sequence[Failure] = (),
        lease: JobLock | None = None,
    ) -> int:
        """Add an input file's records as pending URLs and move its progress, atomically."""
        with self.engine.begin() as conn:
            jobs.serialize_commits(conn, job_id)
            if lease is not None:
                lease.fence(conn)
            return warcinput.register(
                conn, job_id, name, records, next_offset=next_offset, done=done, failures=failures
            )

    # -- re-extraction from the archive (reextract.py) ---------------------------------
    def archived_files(self, job_id: str) -> list[str]:
        with self.engine.connect() as conn:
            return reextract.archived_files(conn, job_id)

    def reopen_archived(self, job_id: str, *, lease: JobLock | None = None) -> int:
        """Start re-extracting the job (or continue one under way): its extracted,
        archived URLs pending again, their documents dropped, atomically."""
        with self.engine.begin() as conn:
            if lease is not None:
                lease.fence(conn)
            return reextract.reopen(conn, job_id)

    def end_reextract(self, job_id: str) -> None:
        with self.engine.begin() as conn:
            reextract.finish(conn, job_id)

    def archived_pending_page(
        self, job_id: str, after_seq: int, limit: int
    ) -> list[tuple[str, int, int, WarcRef]]:
        with self.engine.connect() as conn:
            return reextract.pending_page(conn, job_id, after_seq, limit)

    def warc_records(self, job_id: str) -> dict[str, tuple[str, WarcRef | None]]:
        """URL -> (state, its archived response record or None)."""
        with self.engine.connect() as conn:
            return reextract.records(conn, job_id)

    # -- reading ----------------------------------------------------------------------
    def counts(self, job_id: str, shard: int | None = None) -> JobCounts:
        """Where the job (or one shard of it) stands."""
        with self.engine.connect() as conn:
            return frontier.counts(conn, job_id, shard)

    @property
    def shards(self) -> ShardBook:
        """The shards of jobs fanned out (``shards.py``)."""
        return ShardBook(self.engine)

    def url_states(self, job_id: str) -> dict[str, tuple[str, str | None]]:
        """Every URL of the job with its state and error type (for tests and tools)."""
        with self.engine.connect() as conn:
            return frontier.url_states(conn, job_id)

    def duplicates(self, job_id: str) -> dict[str, str]:
        """URL -> the URL whose stored document it duplicates."""
        with self.engine.connect() as conn:
            return frontier.duplicates(conn, job_id)

    def iter_documents(
        self,
        job_id: str | None = None,
        *,
        which: documents.Which = "kept",
        versions: Versions = "latest",
        changed_since: datetime | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Stored documents as column dicts: the kept ones (default), the ones a filter
        rejected (``filtered``), or both (``all``); each page's latest version, or every
        version (``versions="all"``). Pages found gone are left out of the latest, but in
        every version's history and in ``changed_since`` (an incremental export: the
        versions stored since, and the pages gone since, ``gone_at`` set, so a downstream
        index can drop them)."""
        history = versions == "all" or changed_since is not None
        rows = documents.iter_rows(
            self.engine, job_id, which=which, since=changed_since, gone=history
        )
        if versions == "latest":
            return rows
        earlier = revisits.iter_versions(self.engine, job_id, which=which, since=changed_since)
        return itertools.chain(earlier, rows)

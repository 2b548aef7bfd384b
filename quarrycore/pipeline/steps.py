"""The steps a batch goes through, each with one job and one typed ``run``.

A :class:`Step` turns a batch into the same batch with each open URL record advanced
(a page, a document) or failed; a :class:`Sink` commits it. The base classes own the
failure mapping: when a step fails for the whole batch, every open record fails with
that error at the step's stage, so no URL of a failed step goes missing. A new stage (a
filter, an archive reader) is one small subclass.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path

from quarrycore.archive import WarcArchive, read_outcomes
from quarrycore.deadletters import DeadLetterStore
from quarrycore.exceptions import RunStopped, Stage, StageFailed
from quarrycore.extract.neardup import NearDupConfig
from quarrycore.extract.pool import ExtractorPool
from quarrycore.fetch import Fetcher
from quarrycore.pipeline.outage import outlast_outage
from quarrycore.pipeline.scope import CrawlScope, discover_links
from quarrycore.records import Batch, BatchReport
from quarrycore.store import DocumentStore, JobLock
from quarrycore.store.commit import GONE_STATUS


def _failed(batch: Batch, stage: Stage, exc: BaseException) -> Batch:
    """Every open record failed with ``exc``; a :class:`RunStopped` is raised instead:
    the run must stop, and its URLs stay pending."""
    error = exc.error if isinstance(exc, StageFailed) else exc
    if isinstance(error, RunStopped):
        raise error
    if isinstance(exc, StageFailed):
        return batch.fail_open(stage, exc.error, dead_lettered=exc.recorded)
    return batch.fail_open(stage, exc)


def _spurious(exc: asyncio.CancelledError) -> bool:
    """A cancellation that did not come from cancelling this task (a stop) but leaked out
    of the step's work: a failure of the batch, never a reason to end the run."""
    task = asyncio.current_task()
    return task is not None and not task.cancelling()


class Step(ABC):
    """One stage over a batch."""

    stage: Stage

    @abstractmethod
    async def run(self, batch: Batch) -> Batch:
        """The batch with every open record advanced or failed (may raise for all)."""

    async def __call__(self, batch: Batch) -> Batch:
        try:
            return await self.run(batch)
        except asyncio.CancelledError as exc:
            if not _spurious(exc):
                raise
            return _failed(batch, self.stage, exc)
        except Exception as exc:
            return _failed(batch, self.stage, exc)


class Sink(ABC):
    """The commit point of a batch.

    While the store cannot be reached, the commit is tried again with backoff for up to
    ``outage_wait`` seconds (the batch stays pending meanwhile; nothing is marked
    failed for an outage), then the run stops with :class:`StoreUnavailable`. A commit
    that fails for another reason fails the batch's open records at stage ``store``."""

    stage: Stage = "store"
    outage_wait: float = 0.0

    @abstractmethod
    async def commit(self, batch: Batch) -> BatchReport:
        """Commit every record of the batch: documents stored, failures recorded."""

    async def __call__(self, batch: Batch) -> BatchReport:
        def attempt() -> Awaitable[BatchReport]:
            return self.commit(batch)

        try:
            return await outlast_outage(
                attempt, limit=self.outage_wait, what=f"committing batch {batch.index}"
            )
        except asyncio.CancelledError as exc:
            if not _spurious(exc):
                raise
            failed = _failed(batch, self.stage, exc)
        except Exception as exc:
            failed = _failed(batch, self.stage, exc)
        # The commit failed for a reason of its own: commit the batch as failed instead
        # (that may fail too; then its error ends the run and a resume redoes the batch).
        try:
            return await self.commit(failed)
        except StageFailed as again:
            raise again.error from again


class Fetch(Step):
    """Fetch every open URL; with an archive, the batch's exchanges are in its WARC
    files, durably, before the batch goes on (its commit then points at them)."""

    stage: Stage = "crawl"

    def __init__(self, fetcher: Fetcher, archive: WarcArchive | None = None) -> None:
        self.fetcher = fetcher
        self.archive = archive

    async def run(self, batch: Batch) -> Batch:
        fetched = await self.fetcher.fetch_batch(batch)
        if self.archive is None:
            return fetched
        return await asyncio.to_thread(self.archive.write_batch, fetched)


class ReadArchive(Step):
    """The source of a re-extraction: each open URL's page read back from its WARC
    record (``root``: the archive's root directory); not a request is made."""

    stage: Stage = "crawl"

    def __init__(self, root: Path) -> None:
        self.root = root

    async def run(self, batch: Batch) -> Batch:
        return batch.advance(await asyncio.to_thread(read_outcomes, self.root, batch))


class Extract(Step):
    """Extract every fetched page (extraction processes), then find the in-scope links
    of the documents when the job follows links."""

    stage: Stage = "extract"

    def __init__(self, pool: ExtractorPool, scope: CrawlScope) -> None:
        self.pool = pool
        self.scope = scope

    async def run(self, batch: Batch) -> Batch:
        extracted = await self.pool.extract(batch)
        if self.scope.follows_links:
            extracted = extracted.with_links(discover_links(extracted, self.scope))
        return extracted


@dataclass(frozen=True, slots=True, kw_only=True)
class Committer:
    """Where and how batches are committed: the dead letters, then the store."""

    store: DocumentStore
    dead_letters: DeadLetterStore
    max_urls: int | None = None  # the job's max_pages: links beyond it are not enqueued
    near_dup: NearDupConfig | None = None
    lease: JobLock | None = None  # when set, every commit proves this run still holds it
    changed_only: bool = True  # a revisit with the same text is no new version

    def commit(
        self, batch: Batch, *, flow_run_id: str | None = None, task_run_id: str | None = None
    ) -> BatchReport:
        """Dead letters first, then the store's transaction: the store is the commit
        point, so a crash in between leaves the URLs pending and their dead letters open;
        the next run's outcome then updates or resolves those rows (blocking). A revisit
        that found its page gone (404/410) is no failure: no dead letter."""
        documents, failures = batch.documents, batch.failures
        gone = self.store.gone_candidates(
            batch.job_id, [f.url for f in failures if f.status_code in GONE_STATUS]
        )
        self.dead_letters.record(
            batch.job_id,
            [f for f in failures if not f.dead_lettered and f.url not in gone],
            flow_run_id=flow_run_id,
            task_run_id=task_run_id,
            metadata={"batch": batch.index},
            per_url={
                url: {"warc_file": ref.file, "warc_offset": ref.offset}
                for url, ref in batch.warc_refs.items()
            },
        )
        self.dead_letters.resolve(
            batch.job_id, [doc.url for doc in documents] + [n.url for n in batch.not_modified]
        )
        verdicts = self.store.commit_batch(
            batch.job_id,
            documents,
            failures,
            not_modified=batch.not_modified,
            validators=batch.validators,
            warc=batch.warc_refs,
            changed_only=self.changed_only,
            links=batch.links,
            max_urls=self.max_urls,
            near_dup=self.near_dup,
            lease=self.lease,
        )
        return BatchReport(
            batch_index=batch.index,
            stored=verdicts.stored,
            failed=verdicts.failed,
            filtered=verdicts.filtered,
            duplicate=verdicts.duplicate,
            unchanged=verdicts.unchanged,
            gone=verdicts.gone,
        )


class Commit(Sink):
    """Commit in a thread (the database calls block)."""

    def __init__(self, committer: Committer, *, outage_wait: float = 0.0) -> None:
        self.committer = committer
        self.outage_wait = outage_wait

    async def commit(self, batch: Batch) -> BatchReport:
        return await asyncio.to_thread(self.committer.commit, batch)

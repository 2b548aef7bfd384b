"""Running an open job's pending batches: the stages and what they hold, stop signals,
the lease's heartbeat and periodic checkpoints, and passes until nothing is pending."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType

from quarrycore.archive import WarcArchive
from quarrycore.checkpoint import JobCheckpointer
from quarrycore.exceptions import JobLockLost, RunStopped
from quarrycore.extract.neardup import NearDupConfig
from quarrycore.extract.options import ExtractOptions
from quarrycore.extract.pool import ExtractorPool
from quarrycore.fetch import Fetcher
from quarrycore.fetch.politeness import HOST_QUEUE
from quarrycore.pipeline.job import OpenJob
from quarrycore.pipeline.loop import OnDone, Pipeline, run_batches
from quarrycore.pipeline.outage import outlast_outage
from quarrycore.pipeline.signals import StopSignals
from quarrycore.pipeline.steps import Commit, Committer, Extract, Fetch, ReadArchive
from quarrycore.records import Batch
from quarrycore.store import JobLock

logger = logging.getLogger("quarrycore.pipeline")


class JobStages:
    """The fetch (or archive-reading), extract and commit steps of a job, with the HTTP
    client, WARC files and extraction processes they hold (closed on exit)."""

    def __init__(self, job: OpenJob) -> None:
        settings = job.settings
        quality = settings.quality
        self.fetch: Fetch | ReadArchive
        if job.source == "archive":
            self.fetch = ReadArchive(settings.warc_dir)
        else:
            archive = (
                WarcArchive(settings.warc_dir, job.job_id, max_bytes=settings.warc_max_bytes)
                if settings.warc
                else None
            )
            self.fetch = Fetch(Fetcher(settings), archive)
        self.extract = Extract(
            ExtractorPool(
                workers=settings.extract_workers,
                options=ExtractOptions.from_settings(settings, out_links=job.keeps_out_links),
                page_timeout=settings.extract_timeout,
            ),
            job.scope,
        )
        near_dup = (
            NearDupConfig(threshold=quality.near_dup_threshold) if quality.near_dedup else None
        )
        self.commit = Commit(
            Committer(
                store=job.store,
                dead_letters=job.dead_letters,
                max_urls=job.scope.max_pages,
                near_dup=near_dup,
                lease=job.lease,
                changed_only=settings.recrawl_changed_only,
            ),
            outage_wait=settings.store_outage_wait,
        )

    def pipeline(self) -> Pipeline:
        """The plain pipeline, without Prefect."""
        return Pipeline(source=self.fetch, steps=[self.extract], sink=self.commit)

    async def __aenter__(self) -> JobStages:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if isinstance(self.fetch, Fetch):
                await self.fetch.fetcher.aclose()
                if self.fetch.archive is not None:
                    await asyncio.to_thread(self.fetch.archive.close)
        finally:
            self.extract.pool.close()


async def run_job(job: OpenJob, pipeline: Pipeline, *, on_done: OnDone) -> StopSignals:
    """Run every pending batch of the job; return the signal state (a stop may have been
    asked: then the batches in flight got ``shutdown_grace`` seconds to commit). Raises
    :class:`JobLockLost` when another run took the job's lease (nothing more committed)."""
    settings = job.settings
    loop_task: asyncio.Task[None] | None = None
    stopped_by: list[RunStopped] = []

    def cancel_in_flight() -> None:
        if loop_task is not None:
            loop_task.cancel()

    def lease_lost(exc: RunStopped) -> None:
        stopped_by.append(exc)
        cancel_in_flight()

    signals = StopSignals(on_second=cancel_in_flight)
    signals.install()
    # Heartbeats get a thread of their own: slow blocking work elsewhere (DNS lookups,
    # a commit waiting for a lock) must never delay them past the lease's TTL.
    lease_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="quarry-lease")
    background = [
        asyncio.create_task(keep_saving(job.checkpointer, settings.checkpoint_interval)),
        asyncio.create_task(
            keep_lease(job.lease, settings.job_lock_ttl / 3, lease_thread, lease_lost)
        ),
    ]
    for task in background:
        task.add_done_callback(_report_death)
    if job.inputs_left is not None:  # the rest of the inputs, while the batches run
        job.inputs_left.start(lambda: signals.stop_requested)

    async def every_pass() -> None:
        # Links found by the last batches of a pass are committed after the pass read
        # its last page of pending URLs: go round again until none is left.
        while True:
            await run_batches(
                _batches(job, settings.batch_size, settings.store_outage_wait),
                pipeline,
                on_done=on_done,
                should_stop=lambda: signals.stop_requested,
            )
            if signals.stop_requested or not job.scope.follows_links:
                return
            if (await asyncio.to_thread(job.store.counts, job.job_id, job.shard)).pending == 0:
                return

    try:
        loop_task = asyncio.create_task(every_pass())
        await _await_with_grace(loop_task, signals, settings.shutdown_grace)
    finally:
        signals.restore()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        lease_thread.shutdown(wait=False)
        if job.inputs_left is not None:
            await job.inputs_left.stop()
    if stopped_by:
        raise stopped_by[0]
    return signals


async def keep_saving(checkpointer: JobCheckpointer, every: float) -> None:
    """Periodic checkpoints; a failed save is reported and tried at the next turn. URLs
    queued for a paused or Crawl-delayed host are said too (a worker has no progress
    line: its log shows why the job is slow)."""
    while True:
        await asyncio.sleep(every)
        await checkpointer.save_or_warn("running")
        waiting, longest = HOST_QUEUE.snapshot()
        if waiting:
            logger.info("%d URLs waiting for their host (longest %.0f s)", waiting, longest)


async def keep_lease(
    lease: JobLock,
    every: float,
    thread: ThreadPoolExecutor,
    lost: Callable[[RunStopped], None],
) -> None:
    """Renew the lease every ``every`` seconds; a failed heartbeat (the database away) is
    retried at once and then every second; a lease another run took stops the run."""
    loop = asyncio.get_running_loop()
    delay = every
    while True:
        await asyncio.sleep(delay)
        try:
            await loop.run_in_executor(thread, lease.heartbeat)
        except JobLockLost as exc:
            logger.error("%s", exc)
            lost(exc)
            return
        except Exception as exc:
            logger.warning("lease heartbeat failed (%s: %s); retrying", type(exc).__name__, exc)
            delay = min(every, 1.0)
        else:
            delay = every


def _report_death(task: asyncio.Task[None]) -> None:
    """A background task should run until the run ends: say so when one dies early."""
    if not task.cancelled() and task.exception() is not None:
        logger.error("background task %s died: %r", task.get_coro(), task.exception())


async def _await_with_grace(task: asyncio.Task[None], signals: StopSignals, grace: float) -> None:
    """Wait for the batch loop; once a stop is asked, give it ``grace`` seconds more."""
    stop = asyncio.create_task(signals.stopped.wait())
    try:
        done, _ = await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        if task not in done:
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=grace)
            except TimeoutError:
                task.cancel()
    finally:
        stop.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _batches(job: OpenJob, batch_size: int, outage_wait: float) -> AsyncIterator[Batch]:
    """The job's pending URLs a batch at a time, in registration order (re-extracting:
    those with an archived response, with it); reading waits out a store outage like a
    commit does. While the job's inputs are still being registered, none pending means
    waiting for the next chunk of them."""
    store, job_id, left = job.store, job.job_id, job.inputs_left
    index, after = 0, 0
    while True:
        chunks = left.chunks if left is not None else 0
        if job.source == "archive":
            read_archived = functools.partial(
                asyncio.to_thread, store.archived_pending_page, job_id, after, batch_size
            )
            archived = await outlast_outage(
                read_archived, limit=outage_wait, what="reading pending URLs"
            )
            if not archived:
                return
            after = archived[-1][1]
            urls, depths, refs = zip(*[(u, d, ref) for u, _, d, ref in archived], strict=True)
            yield Batch.of(job_id, index, urls, depths, refs)
        else:
            read = functools.partial(
                asyncio.to_thread, store.pending_page, job_id, after, batch_size, job.shard
            )
            page = await outlast_outage(read, limit=outage_wait, what="reading pending URLs")
            if not page and left is not None and await left.wait_for_more(chunks):
                continue
            if not page:
                return
            after = page[-1][1]
            yield Batch.of(
                job_id,
                index,
                [url for url, _, _, _ in page],
                [depth for _, _, depth, _ in page],
                validators=[v for _, _, _, v in page] if job.settings.recrawl_changed_only else (),
            )
        index += 1

"""Running an open job's pending batches: the stages and what they hold, stop signals,
the lease's heartbeat and periodic checkpoints, and passes until nothing is pending."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import TracebackType

from quarrycore.extract.neardup import NearDupConfig
from quarrycore.extract.pool import ExtractorPool
from quarrycore.extract.step import ExtractOptions
from quarrycore.fetch import Fetcher
from quarrycore.pipeline.job import OpenJob
from quarrycore.pipeline.loop import OnDone, Pipeline, run_batches
from quarrycore.pipeline.signals import StopSignals
from quarrycore.pipeline.steps import Commit, Committer, Extract, Fetch
from quarrycore.records import Batch
from quarrycore.store import DocumentStore, JobLock


class JobStages:
    """The fetch, extract and commit steps of a job, with the HTTP client and the
    extraction processes they hold (closed on exit)."""

    def __init__(self, job: OpenJob) -> None:
        settings = job.settings
        quality = settings.quality
        self.fetch = Fetch(Fetcher(settings))
        self.extract = Extract(
            ExtractorPool(
                workers=settings.extract_workers,
                options=ExtractOptions.from_settings(settings),
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
            )
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
        await self.fetch.fetcher.aclose()
        self.extract.pool.close()


async def run_job(job: OpenJob, pipeline: Pipeline, *, on_done: OnDone) -> StopSignals:
    """Run every pending batch of the job; return the signal state (a stop may have been
    asked: then the batches in flight got ``shutdown_grace`` seconds to commit)."""
    settings = job.settings
    loop_task: asyncio.Task[None] | None = None

    def cancel_in_flight() -> None:
        if loop_task is not None:
            loop_task.cancel()

    signals = StopSignals(on_second=cancel_in_flight)
    signals.install()
    background = [
        asyncio.create_task(job.checkpointer.run_periodically()),
        asyncio.create_task(_heartbeat(job.lease, settings.job_lock_ttl / 3)),
    ]

    async def every_pass() -> None:
        # Links found by the last batches of a pass are committed after the pass read
        # its last page of pending URLs: go round again until none is left.
        while True:
            await run_batches(
                _batches(job.store, job.job_id, settings.batch_size),
                pipeline,
                on_done=on_done,
                should_stop=lambda: signals.stop_requested,
            )
            if signals.stop_requested or not job.scope.follows_links:
                return
            if (await asyncio.to_thread(job.store.counts, job.job_id)).pending == 0:
                return

    try:
        loop_task = asyncio.create_task(every_pass())
        await _await_with_grace(loop_task, signals, settings.shutdown_grace)
    finally:
        signals.restore()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
    return signals


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


async def _heartbeat(lease: JobLock, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        await asyncio.to_thread(lease.heartbeat)


async def _batches(store: DocumentStore, job_id: str, batch_size: int) -> AsyncIterator[Batch]:
    pages = store.iter_pending_with_depth(job_id, batch_size)
    index = 0
    while (page := await asyncio.to_thread(next, pages, None)) is not None:
        urls, depths = zip(*page, strict=True)
        yield Batch.of(job_id, index, urls, depths)
        index += 1

"""The batch loop of one flow run, with its Prefect tasks, checkpoints and signals."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from prefect import get_run_logger
from prefect.artifacts import acreate_progress_artifact, aupdate_progress_artifact
from quarrycore.flows.hooks import JobCheckpointer, StopSignals
from quarrycore.tasks.crawl import crawl_batch, crawl_cache_key
from quarrycore.tasks.extract import extract_batch
from quarrycore.tasks.hooks import record_failed_batch
from quarrycore.tasks.policy import retry_options
from quarrycore.tasks.store import store_batch

from quarrycore.deadletters.store import DeadLetterStore
from quarrycore.extract.neardup import NearDupConfig
from quarrycore.extract.page import ExtractOptions
from quarrycore.extract.pool import ExtractorPool
from quarrycore.fetch.client import Fetcher
from quarrycore.pipeline.loop import Stages, run_batches
from quarrycore.pipeline.scope import CrawlScope, discover_links
from quarrycore.records import Batch, BatchReport, CrawlOutput, ExtractOutput
from quarrycore.settings import QuarrySettings
from quarrycore.store.documents import DocumentStore
from quarrycore.store.lease import JobLock


def artifact_key(prefix: str, job_id: str) -> str:
    slug = "".join(ch if ch.isalnum() else "-" for ch in job_id.lower())
    return f"{prefix}-{slug}"[:100]


async def run_job(
    job_id: str,
    settings: QuarrySettings,
    store: DocumentStore,
    dead_letters: DeadLetterStore,
    *,
    checkpointer: JobCheckpointer,
    lock: JobLock,
    scope: CrawlScope,
) -> StopSignals:
    """Run every pending batch; return the signal state (a stop may have been asked)."""
    logger = get_run_logger()
    result_dir = settings.result_dir.resolve()
    retries = retry_options(settings)
    crawl = crawl_batch.with_options(
        result_storage=result_dir,
        persist_result=settings.persist_results,
        on_failure=[record_failed_batch(dead_letters, "crawl")],
        **retries,
    )
    extract = extract_batch.with_options(
        on_failure=[record_failed_batch(dead_letters, "extract")], **retries
    )
    store_task = store_batch.with_options(
        on_failure=[record_failed_batch(dead_letters, "store")], **retries
    )
    progress_id = await acreate_progress_artifact(
        progress=0.0,
        key=artifact_key("quarry-progress", job_id),
        description=f"URLs of job {job_id} done",
    )

    async def crawl_stage(batch: Batch) -> CrawlOutput:
        return await crawl(batch, fetcher)

    async def extract_stage(crawled: CrawlOutput) -> ExtractOutput:
        return await extract(crawled, pool)

    async def store_stage(extracted: ExtractOutput) -> BatchReport:
        if scope.follows_links:
            extracted.links = discover_links(extracted, scope)
        report = await store_task(extracted, store, dead_letters, scope.max_pages, near_dup)
        # Committed: the store answers for these URLs now, so the cached fetch (the HTML
        # of the whole batch) is not needed on disk any more.
        key = crawl_cache_key(None, {"batch": extracted.batch})  # type: ignore[arg-type]
        (result_dir / key).unlink(missing_ok=True)
        return report

    done_this_run = 0

    async def on_done(report: BatchReport) -> None:
        nonlocal done_this_run
        done_this_run += report.stored + report.failed
        previous = checkpointer.last
        checkpoint = await checkpointer.save_if_cheap()
        saved = checkpoint is not None and checkpoint is not previous
        logger.info(
            "batch %d: %d stored, %d failed; %d URLs done in this run%s",
            report.batch_index,
            report.stored,
            report.failed,
            done_this_run,
            f"; checkpoint: {checkpoint.processed_count} of "
            f"{checkpoint.processed_count + checkpoint.pending_count} done"
            if saved and checkpoint
            else "",
        )
        if saved and checkpoint is not None:
            done = checkpoint.processed_count + checkpoint.pending_count
            await aupdate_progress_artifact(
                progress_id, progress=100.0 * checkpoint.processed_count / max(1, done)
            )

    near_dup = (
        NearDupConfig(threshold=settings.quality.near_dup_threshold)
        if settings.quality.near_dedup
        else None
    )
    pool = ExtractorPool(
        workers=settings.extract_workers,
        options=ExtractOptions(
            min_words=settings.min_words,
            drop=settings.drop_params,
            quality=settings.quality,
            markdown=settings.markdown,
        ),
        page_timeout=settings.extract_timeout,
    )
    fetcher = Fetcher(settings)
    loop_task: asyncio.Task[None] | None = None

    def cancel_in_flight() -> None:
        if loop_task is not None:
            loop_task.cancel()

    signals = StopSignals(on_second=cancel_in_flight)
    signals.install()
    background = [
        asyncio.create_task(checkpointer.run_periodically()),
        asyncio.create_task(_heartbeat(lock, settings.job_lock_ttl / 3)),
    ]
    try:

        async def every_pass() -> None:
            # Links found by the last batches of a pass are committed after the pass
            # read its last page of pending URLs: go round again until none is left.
            while True:
                await run_batches(
                    _batches(store, job_id, settings.batch_size),
                    Stages(crawl=crawl_stage, extract=extract_stage, store=store_stage),
                    on_done=on_done,
                    should_stop=lambda: signals.stop_requested,
                )
                if signals.stop_requested or not scope.follows_links:
                    return
                if (await asyncio.to_thread(store.counts, job_id)).pending == 0:
                    return

        loop_task = asyncio.create_task(every_pass())
        await _await_with_grace(loop_task, signals, settings.shutdown_grace)
    finally:
        signals.restore()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await fetcher.aclose()
        pool.close()
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


async def _heartbeat(lock: JobLock, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        await asyncio.to_thread(lock.heartbeat)


async def _batches(store: DocumentStore, job_id: str, batch_size: int) -> AsyncIterator[Batch]:
    pages = store.iter_pending_with_depth(job_id, batch_size)
    index = 0
    while (page := await asyncio.to_thread(next, pages, None)) is not None:
        urls, depths = zip(*page, strict=True)
        yield Batch(job_id=job_id, index=index, urls=tuple(urls), depths=tuple(depths))
        index += 1

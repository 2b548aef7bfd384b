"""The batch loop of a job, free of Prefect: crawl -> extract -> store, overlapped.

While batch *n* is extracted and stored, batch *n+1* is fetched. The stages are
passed in, so the flow can hand Prefect tasks and tests plain coroutines.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from quarrycore.exceptions import Stage, is_transient
from quarrycore.records import Batch, BatchReport, CrawlOutput, ExtractOutput, Failure


@dataclass(frozen=True, slots=True, kw_only=True)
class Stages:
    crawl: Callable[[Batch], Awaitable[CrawlOutput]]
    extract: Callable[[CrawlOutput], Awaitable[ExtractOutput]]
    store: Callable[[ExtractOutput], Awaitable[BatchReport]]


def batch_failures(
    urls: tuple[str, ...] | list[str], stage: Stage, exc: BaseException
) -> list[Failure]:
    """Every URL of a batch whose task failed as a whole, with the task's error."""
    return [
        Failure(
            url=url,
            stage=stage,
            error_type=type(exc).__name__,
            message=str(exc) or repr(exc),
            retryable=is_transient(exc),
            dead_lettered=True,  # the task's on_failure hook recorded them
        )
        for url in urls
    ]


async def _process(
    crawled: CrawlOutput, stages: Stages, on_done: Callable[[BatchReport], Awaitable[None]]
) -> None:
    try:
        extracted = await stages.extract(crawled)
    except Exception as exc:
        pages = [page.url for page in crawled.pages]
        extracted = ExtractOutput(
            batch=crawled.batch,
            failures=[*crawled.failures, *batch_failures(pages, "extract", exc)],
        )
    try:
        report = await stages.store(extracted)
    except Exception as exc:
        # The store itself failed past its retries: record the whole batch as failed
        # (that commit may fail too; then the error ends the run and resume redoes it).
        docs = [doc.url for doc in extracted.documents]
        failed = ExtractOutput(
            batch=crawled.batch,
            failures=[*extracted.failures, *batch_failures(docs, "store", exc)],
        )
        report = await stages.store(failed)
    await on_done(report)


async def run_batches(
    batches: AsyncIterator[Batch],
    stages: Stages,
    *,
    on_done: Callable[[BatchReport], Awaitable[None]],
    should_stop: Callable[[], bool] = lambda: False,
) -> None:
    """Run every batch through the stages; fetching overlaps the previous batch's
    extraction and storage. Returns early (after committing in-flight work) once
    ``should_stop()`` is true."""
    processing: asyncio.Task[None] | None = None
    try:
        async for batch in batches:
            if should_stop():
                break
            try:
                crawled = await stages.crawl(batch)
            except Exception as exc:
                crawled = CrawlOutput(
                    batch=batch, failures=batch_failures(batch.urls, "crawl", exc)
                )
            if processing is not None:
                await processing
            processing = asyncio.create_task(_process(crawled, stages, on_done))
        if processing is not None:
            await processing
            processing = None
    except asyncio.CancelledError:
        # Stop at once: what is committed stays committed, the rest stays pending.
        if processing is not None:
            processing.cancel()
            await asyncio.gather(processing, return_exceptions=True)
        raise
    finally:
        if processing is not None and not processing.done():
            # Leaving on an error: let the batch already in hand commit, if it can.
            await asyncio.gather(processing, return_exceptions=True)

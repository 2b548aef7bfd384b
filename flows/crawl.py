"""The ``quarry-crawl`` flow: URLs in, clean documents in the store.

The flow wires Prefect tasks into :func:`quarrycore.pipeline.run_batches`; what a URL
became is read back from the store, the single source of truth.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from prefect import get_run_logger
from prefect.artifacts import (
    acreate_progress_artifact,
    acreate_table_artifact,
    aupdate_progress_artifact,
)
from prefect.client.orchestration import get_client
from prefect.runtime import flow_run

from flows._compat import sync_compatible_flow
from quarrycore.exceptions import NoURLsError
from quarrycore.extractor import ExtractorPool
from quarrycore.fetch import Fetcher
from quarrycore.intake import register_inputs
from quarrycore.jobs import new_job_id, validate_job_id
from quarrycore.pipeline import Stages, run_batches
from quarrycore.records import Batch, BatchReport, CrawlOutput, ExtractOutput
from quarrycore.results import CrawlResult
from quarrycore.settings import QuarrySettings
from quarrycore.store import DocumentStore
from quarrycore.urls import gather_inputs
from tasks.crawl import crawl_batch, crawl_cache_key
from tasks.extract import extract_batch
from tasks.policy import retry_options
from tasks.store import store_batch


def _run_name() -> str:
    job_id = flow_run.parameters.get("job_id")
    return str(job_id) if job_id else "quarry-crawl"


def build_settings(overrides: dict[str, Any]) -> QuarrySettings:
    """Environment (``QUARRY_*``) first, then the flow's explicit parameters."""
    return QuarrySettings(**{k: v for k, v in overrides.items() if v is not None})


@sync_compatible_flow(name="quarry-crawl", flow_run_name=_run_name, log_prints=False)
async def quarry_crawl(
    urls: list[str] | None = None,
    urls_file: str | None = None,
    job_id: str | None = None,
    database_url: str | None = None,
    batch_size: int | None = None,
    concurrency: int | None = None,
    options: dict[str, Any] | None = None,
) -> CrawlResult:
    """Crawl ``urls`` (and those of ``urls_file``), extract and store them under ``job_id``.

    Running it again with the same ``job_id`` continues the job: URLs already stored or
    failed are not fetched again, new URLs are added. ``options`` sets any other
    :class:`~quarrycore.settings.QuarrySettings` field by name.
    """
    started = time.monotonic()
    logger = get_run_logger()
    settings = build_settings(
        {
            **(options or {}),
            "database_url": database_url,
            "batch_size": batch_size,
            "concurrency": concurrency,
        }
    )
    if job_id is None:
        job_id = new_job_id()
        await _rename_run(job_id)
    job_id = validate_job_id(job_id)

    store = await asyncio.to_thread(DocumentStore, settings.database_url)
    try:
        raw = gather_inputs(urls, urls_file)
        if not raw and not await asyncio.to_thread(store.job_exists, job_id):
            raise NoURLsError("no URLs given: pass urls, urls_file, or the id of an existing job")
        await asyncio.to_thread(store.start_job, job_id, settings.model_dump(mode="json"))
        intake = await asyncio.to_thread(register_inputs, store, job_id, raw)
        before = await asyncio.to_thread(store.counts, job_id)
        logger.info(
            "job %s: %d input URLs (%d invalid); %d pending, %d already done",
            job_id,
            len(raw),
            len(intake.invalid),
            before.pending,
            before.processed,
        )
        await _run_job(job_id, settings, store, total=before.total)
        counts = await asyncio.to_thread(store.counts, job_id)
        result = CrawlResult.from_counts(
            counts,
            duration_s=time.monotonic() - started,
            processed_before=before.processed,
            flow_run_id=str(flow_run.id) if flow_run.id else None,
        )
        await asyncio.to_thread(store.set_job_status, job_id, result.state)
        await acreate_table_artifact(
            key=_artifact_key("quarry-summary", job_id),
            table=result.summary_rows(),
            description=f"QuarryCore job {job_id}: {result.state}",
        )
        logger.info(
            "job %s %s: %d stored, %d failed, %d pending (%.0f pages/min this run)",
            job_id,
            result.state,
            result.stored_count,
            result.failed_count,
            result.pending_count,
            result.pages_per_minute,
        )
        return result
    finally:
        await asyncio.to_thread(store.close)


async def _run_job(
    job_id: str, settings: QuarrySettings, store: DocumentStore, *, total: int
) -> None:
    logger = get_run_logger()
    result_dir = settings.result_dir.resolve()
    retries = retry_options(settings)
    crawl = crawl_batch.with_options(
        result_storage=result_dir, persist_result=settings.persist_results, **retries
    )
    extract = extract_batch.with_options(**retries)
    store_task = store_batch.with_options(**retries)

    progress_id = await acreate_progress_artifact(
        progress=0.0,
        key=_artifact_key("quarry-progress", job_id),
        description=f"URLs of job {job_id} done",
    )
    pool = ExtractorPool(workers=settings.extract_workers, min_words=settings.min_words)
    try:
        async with Fetcher(settings) as fetcher:

            async def crawl_stage(batch: Batch) -> CrawlOutput:
                return await crawl(batch, fetcher)

            async def extract_stage(crawled: CrawlOutput) -> ExtractOutput:
                return await extract(crawled, pool)

            async def store_stage(extracted: ExtractOutput) -> BatchReport:
                report = await store_task(extracted, store)
                # Committed: the store now answers for these URLs, so the cached fetch
                # (HTML of the whole batch) is no longer needed on disk.
                key = crawl_cache_key(None, {"batch": extracted.batch})  # type: ignore[arg-type]
                (result_dir / key).unlink(missing_ok=True)
                return report

            async def on_done(report: BatchReport) -> None:
                counts = await asyncio.to_thread(store.counts, job_id)
                logger.info(
                    "batch %d: %d stored, %d failed; job %d/%d done",
                    report.batch_index,
                    report.stored,
                    report.failed,
                    counts.processed,
                    total,
                )
                await aupdate_progress_artifact(
                    progress_id, progress=100.0 * counts.processed / max(1, counts.total)
                )

            await run_batches(
                _batches(store, job_id, settings.batch_size),
                Stages(crawl=crawl_stage, extract=extract_stage, store=store_stage),
                on_done=on_done,
            )
    finally:
        pool.close()


async def _batches(store: DocumentStore, job_id: str, batch_size: int) -> AsyncIterator[Batch]:
    pages = store.iter_pending(job_id, batch_size)
    index = 0
    while (urls := await asyncio.to_thread(next, pages, None)) is not None:
        yield Batch(job_id=job_id, index=index, urls=tuple(urls))
        index += 1


async def _rename_run(name: str) -> None:
    if flow_run.id is None:
        return
    async with get_client() as client:
        await client.update_flow_run(flow_run.id, name=name)


def _artifact_key(prefix: str, job_id: str) -> str:
    slug = "".join(ch if ch.isalnum() else "-" for ch in job_id.lower())
    return f"{prefix}-{slug}"[:100]


__all__ = ["quarry_crawl"]

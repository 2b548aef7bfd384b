"""The ``quarry-crawl`` flow: URLs in, clean documents in the store.

The flow wires Prefect tasks into :func:`quarrycore.pipeline.run_batches`; what a URL
became is read back from the store, the single source of truth. Checkpoints mirror the
store for resuming (``resume=True`` or ``resume_from=<file>``) and for people.
"""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import get_run_logger
from prefect.artifacts import acreate_table_artifact
from prefect.client.orchestration import get_client
from prefect.exceptions import TerminationSignal
from prefect.runtime import flow_run
from quarrycore.blocks.store import store_url
from quarrycore.flows._compat import sync_compatible_flow
from quarrycore.flows.batchloop import artifact_key, run_job
from quarrycore.flows.hooks import (
    JobCheckpointer,
    load_block,
    mark_saved_on_stop,
    on_cancellation,
    on_crashed,
)

from quarrycore.checkpoint.model import (
    CheckpointFile,
    PipelineCheckpoint,
    mask_database_url,
    read_checkpoint,
)
from quarrycore.deadletters.store import DeadLetterStore
from quarrycore.exceptions import ConfigError, IncompatibleCheckpoint, NoURLsError, QuarryError
from quarrycore.fetch.sitemaps import sitemap_urls
from quarrycore.jobid import new_job_id, validate_job_id
from quarrycore.pipeline.result import CrawlResult
from quarrycore.pipeline.scope import CrawlScope
from quarrycore.settings import QuarrySettings
from quarrycore.store.documents import DocumentStore
from quarrycore.store.intake import register_inputs
from quarrycore.store.lease import JobLock
from quarrycore.urls import gather_inputs, host_of, normalize_url


def _run_name() -> str:
    job_id = flow_run.parameters.get("job_id")
    return str(job_id) if job_id else "quarry-crawl"


def build_settings(overrides: dict[str, Any]) -> QuarrySettings:
    """Environment (``QUARRY_*``) first, then the flow's explicit parameters."""
    return QuarrySettings(**{k: v for k, v in overrides.items() if v is not None})


async def find_checkpoint(
    settings: QuarrySettings, job_id: str | None, resume_from: str | None
) -> PipelineCheckpoint | None:
    """The checkpoint to resume from: the given file, else the job's file, else its Block."""
    if resume_from:
        checkpoint = await asyncio.to_thread(read_checkpoint, Path(resume_from))
        if job_id and job_id != checkpoint.job_id:
            raise ConfigError(
                f"{resume_from} is a checkpoint of job {checkpoint.job_id!r}, not {job_id!r}"
            )
        return checkpoint
    if not job_id:
        raise ConfigError("resume needs the job id (or resume_from, a checkpoint file)")
    found = await asyncio.to_thread(CheckpointFile(settings.checkpoint_dir).read, job_id)
    if found is None and settings.checkpoint_block:
        found = await load_block(job_id)
    return found


@sync_compatible_flow(
    name="quarry-crawl",
    flow_run_name=_run_name,
    log_prints=False,
    on_crashed=[on_crashed],
    on_cancellation=[on_cancellation],
)
async def quarry_crawl(
    urls: list[str] | None = None,
    urls_file: str | None = None,
    job_id: str | None = None,
    database_url: str | None = None,
    batch_size: int | None = None,
    concurrency: int | None = None,
    resume: bool = False,
    resume_from: str | None = None,
    checkpoint_interval: float | None = None,
    seeds: list[str] | None = None,
    max_depth: int | None = None,
    max_pages: int | None = None,
    same_host: bool = True,
    allow_domains: list[str] | None = None,
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    sitemaps: bool = False,
    options: dict[str, Any] | None = None,
    database_block: str | None = None,
) -> CrawlResult:
    """Crawl ``urls`` (and those of ``urls_file``), extract and store them under ``job_id``.

    Running it again with the same ``job_id`` continues the job: URLs already stored or
    failed are never fetched again. ``resume=True`` (or ``resume_from``, a checkpoint
    file) requires a checkpoint (file, else Prefect Block) or the job in the store.
    Link following: ``seeds`` (crawled like ``urls``) and ``max_depth`` > 0 enqueue the
    in-scope links of stored pages (``same_host`` or ``allow_domains``, ``include`` /
    ``exclude`` regexes), at most ``max_pages`` URLs in the job; ``sitemaps`` adds the
    pages the sites' sitemaps list (robots.txt ``Sitemap:``, /sitemap.xml, indexes, gzip).
    The scope is kept with the job, so a resume follows it. ``database_block`` names a
    prefect-sqlalchemy ``SqlAlchemyConnector`` block holding the store's URL (its password
    a secret on the server); it wins over ``database_url``. ``options`` sets any other
    :class:`~quarrycore.settings.QuarrySettings` field.
    """
    started, start_time = time.monotonic(), datetime.now(UTC)
    logger = get_run_logger()
    settings = build_settings(
        {
            **(options or {}),
            "database_url": await store_url(database_url, database_block),
            "batch_size": batch_size,
            "concurrency": concurrency,
            "checkpoint_interval": checkpoint_interval,
        }
    )
    checkpoint = None
    if resume or resume_from:
        checkpoint = await find_checkpoint(settings, job_id, resume_from)
        if checkpoint is not None:
            job_id = checkpoint.job_id
            if checkpoint.database_url != mask_database_url(settings.database_url):
                raise IncompatibleCheckpoint(
                    f"the checkpoint of job {job_id!r} belongs to the store "
                    f"{checkpoint.database_url}, not {mask_database_url(settings.database_url)}"
                    "; pass that database URL to resume"
                )
    if job_id is None:
        job_id = new_job_id()
        await _rename_run(job_id)
    job_id = validate_job_id(job_id)
    run_id = str(flow_run.id) if flow_run.id else None

    store = await asyncio.to_thread(DocumentStore, settings.database_url)
    dead_letters = await asyncio.to_thread(DeadLetterStore.for_settings, settings)
    lock: JobLock | None = None
    try:
        raw = [*(seeds or ()), *gather_inputs(urls, urls_file)]
        known = await asyncio.to_thread(store.job_exists, job_id)
        if max_depth is not None or max_pages is not None or seeds:
            scope = build_scope(
                raw,
                max_depth=max_depth or 0,
                max_pages=max_pages,
                same_host=same_host,
                allow_domains=allow_domains,
                include=include,
                exclude=exclude,
            )
        else:
            saved = (await asyncio.to_thread(store.job_settings, job_id)).get("crawl_scope")
            scope = CrawlScope.from_json(saved) if saved else CrawlScope()
        if sitemaps:
            raw += await sitemap_urls(settings, raw, scope)
        if scope.max_pages is not None:
            raw = raw[: scope.max_pages]
        if (resume or resume_from) and checkpoint is None and not known:
            raise ConfigError(
                f"nothing to resume: no checkpoint and no job {job_id!r} in "
                f"{mask_database_url(settings.database_url)}"
            )
        if not raw and not known and checkpoint is None:
            raise NoURLsError("no URLs given: pass urls, urls_file, or the id of an existing job")
        await asyncio.to_thread(
            store.start_job,
            job_id,
            {**settings.model_dump(mode="json"), "crawl_scope": scope.to_json()},
        )
        lock = JobLock(store.engine, job_id, ttl=settings.job_lock_ttl)
        await asyncio.to_thread(lock.acquire)
        if checkpoint is not None and not known and checkpoint.urls_remaining_complete:
            # A store that lost the job (a new machine's SQLite): the checkpoint lists it.
            await asyncio.to_thread(store.add_urls, job_id, checkpoint.urls_remaining)
        intake = await asyncio.to_thread(register_inputs, store, job_id, raw, settings.drop_params)
        await asyncio.to_thread(
            dead_letters.record, job_id, intake.invalid, flow_run_id=run_id, only_new=True
        )
        before = await asyncio.to_thread(store.counts, job_id)
        logger.info(
            "job %s: %d input URLs (%d invalid); %d pending, %d already done%s",
            job_id,
            len(raw),
            len(intake.invalid),
            before.pending,
            before.processed,
            f" (resuming from a {checkpoint.stage} checkpoint)" if checkpoint else "",
        )
        checkpointer = JobCheckpointer(
            store, job_id, settings, pipeline_id=run_id, start_time=start_time
        )
        await checkpointer.save("running", mirror=True)
        signals = await run_job(
            job_id,
            settings,
            store,
            dead_letters,
            checkpointer=checkpointer,
            lock=lock,
            scope=scope,
        )
        counts = await asyncio.to_thread(store.counts, job_id)
        result = CrawlResult.from_counts(
            counts,
            duration_s=time.monotonic() - started,
            processed_before=before.processed,
            flow_run_id=run_id,
        )
        stage = "interrupted" if signals.stop_requested and result.pending_count else result.state
        await checkpointer.save(stage, mirror=True)
        await asyncio.to_thread(store.set_job_status, job_id, stage)
        await acreate_table_artifact(
            key=artifact_key("quarry-summary", job_id),
            table=result.summary_rows(),
            description=f"QuarryCore job {job_id}: {stage}",
        )
        logger.info(
            "job %s %s: %d stored, %d failed, %d pending (%.0f pages/min this run)",
            job_id,
            stage,
            result.stored_count,
            result.failed_count,
            result.pending_count,
            result.pages_per_minute,
        )
        if signals.received is not None and stage == "interrupted":
            mark_saved_on_stop(run_id)
            logger.warning(
                "job %s interrupted; %d URLs left; resume with: quarry crawl --resume %s",
                job_id,
                result.pending_count,
                job_id,
            )
            _hand_back(signals.received)
        return result
    finally:
        if lock is not None:
            await asyncio.to_thread(lock.release)
        await asyncio.to_thread(store.close)
        await asyncio.to_thread(dead_letters.close)


def build_scope(
    inputs: list[str],
    *,
    max_depth: int,
    max_pages: int | None,
    same_host: bool,
    allow_domains: list[str] | None,
    include: list[str] | None,
    exclude: list[str] | None,
) -> CrawlScope:
    hosts = []
    for raw in inputs:
        try:
            hosts.append(host_of(normalize_url(raw)))
        except QuarryError:
            continue
    return CrawlScope.from_json(
        {
            "max_depth": max_depth,
            "max_pages": max_pages,
            "same_host": same_host,
            "seed_hosts": sorted(set(hosts)),
            "allow_domains": allow_domains or [],
            "include": include or [],
            "exclude": exclude or [],
        }
    )


def _hand_back(sig: int) -> None:
    """End the run the way the signal would have, now that the work is committed:
    Prefect marks it Crashed (or Cancelled, when a worker cancelled it)."""
    if sig == signal.SIGINT:
        raise KeyboardInterrupt
    raise TerminationSignal(signal=sig)


async def _rename_run(name: str) -> None:
    if flow_run.id is None:
        return
    async with get_client() as client:
        await client.update_flow_run(flow_run.id, name=name)


__all__ = ["build_settings", "find_checkpoint", "quarry_crawl"]

"""The ``quarry-crawl`` flow: URLs in, clean documents in the store.

It wires tasks: open the job, run its batches (crawl -> extract -> store tasks), finish
it. What a URL became is read back from the store, the single source of truth;
checkpoints mirror the store for resuming (``resume=True`` or ``resume_from=<file>``).
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from prefect import get_run_logger
from prefect.artifacts import acreate_table_artifact
from prefect.client.orchestration import get_client
from prefect.exceptions import TerminationSignal
from prefect.runtime import deployment, flow_run

from quarrycore.exceptions import RunStopped
from quarrycore.flows._compat import sync_compatible_flow
from quarrycore.flows.batchloop import artifact_key, run_batches_of
from quarrycore.flows.fanout import FanOutProgress, launcher_for, shard_run_name
from quarrycore.flows.hooks import mark_saved_on_stop, mirror_for, on_cancellation, on_crashed
from quarrycore.flows.parameters import resolve_job_id, settings_for_run
from quarrycore.pipeline.fanout import run_shards
from quarrycore.pipeline.job import OpenJob
from quarrycore.pipeline.request import JobRequest, ScopeRequest
from quarrycore.pipeline.result import CrawlResult
from quarrycore.pipeline.signals import StopSignals
from quarrycore.settings import QuarrySettings
from quarrycore.tasks.job import finish_job_task, open_job_task, open_shard_task


def _run_name() -> str:
    job_id = resolve_job_id(flow_run.parameters.get("job_id"), flow_run.scheduled_start_time)
    shard = flow_run.parameters.get("shard")
    if job_id and shard is not None:
        return shard_run_name(job_id, int(shard))
    return str(job_id) if job_id else "quarry-crawl"


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
    recrawl_after: str | None = None,
    recrawl_changed_only: bool | None = None,
    warc_files: list[str] | None = None,
    shards: int | None = None,
    shard: int | None = None,
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

    Revisits: with ``recrawl_after`` (``"1d"``, ``"12h"``, ...), the job's URLs last
    checked longer ago are fetched again, conditionally (a 304 or the same text is
    unchanged; a changed page gets a new version; a 404/410 is gone). ``job_id`` may be a
    template of the run's scheduled start time, e.g. ``news-{scheduled:%Y-%m-%d}``.

    Archived crawls: ``warc_files`` (paths of WARC files, uncompressed or gzip per
    record, as the worker sees them) instead of URLs: each response record is extracted,
    filtered, deduplicated and stored like a fetched page, and no request is made; the
    job resumes from the last committed record of each file.

    Fan-out: ``shards`` > 1 splits the job by host into that many shards, each run as a
    flow run of this run's deployment (any worker of the pool takes it; without a
    deployment, as local processes); this run watches them, runs again a shard whose
    worker died, and sums up. ``shard`` is how such a run is told its shard.
    """
    settings = await settings_for_run(
        {
            "options": options,
            "database_url": database_url,
            "database_block": database_block,
            "batch_size": batch_size,
            "concurrency": concurrency,
            "checkpoint_interval": checkpoint_interval,
            "recrawl_after": recrawl_after,
            "recrawl_changed_only": recrawl_changed_only,
        }
    )
    job_id = resolve_job_id(job_id, flow_run.scheduled_start_time)
    follows = max_depth is not None or max_pages is not None or bool(seeds)
    scope = ScopeRequest(
        max_depth=max_depth or 0,
        max_pages=max_pages,
        same_host=same_host,
        allow_domains=allow_domains or (),
        include=include or (),
        exclude=exclude or (),
    )
    request = JobRequest(
        urls=urls or (),
        urls_file=urls_file,
        seeds=seeds or (),
        job_id=job_id,
        resume=resume,
        resume_from=resume_from,
        scope=scope if follows else None,
        sitemaps=sitemaps,
        warc_files=warc_files or (),
        shards=shards,
        shard=shard,
    )
    return await run_request(request, settings)


async def run_request(request: JobRequest, settings: QuarrySettings) -> CrawlResult:
    """Open the job, run its batches as tasks, finish it: the body of the crawl flow and
    of the re-extract flow (``request.reextract``)."""
    run_id = str(flow_run.id) if flow_run.id else None
    if request.shard is not None and request.job_id:
        job = await open_shard_task(
            request.job_id, request.shard, settings, run_id, mirror_for(settings)
        )
    else:
        job = await open_job_task(request, settings, run_id, mirror_for(settings))
    try:
        await _announce(job)
        try:
            # A job fanned out stays so: a resume without `shards` uses the job's count.
            shards = request.shards
            if shards is None and request.shard is None and job.source == "web":
                shards = await asyncio.to_thread(job.store.shards.count, job.job_id)
            if shards and request.shard is None:
                signals = await _fan_out(job, shards)
            else:
                signals = await run_batches_of(job)
        except RunStopped:
            await job.checkpointer.save_or_warn("interrupted", mirror=True)
            raise
        result, stage = await finish_job_task(job, signals.stop_requested)
        await _summarise(job, result, stage)
        if signals.received is not None and stage == "interrupted":
            mark_saved_on_stop(run_id)
            _hand_back(signals.received)
        return result
    finally:
        await asyncio.to_thread(job.close)


async def _fan_out(job: OpenJob, shards: int) -> StopSignals:
    """Run the job's shards as runs of their own; this run watches and sums up."""
    launcher = launcher_for(deployment.id, job.job_id, dict(flow_run.parameters))
    signals, report = await run_shards(
        job,
        shards,
        launcher,
        poll=job.settings.shard_poll_interval,
        on_progress=FanOutProgress(job.job_id),
    )
    states = await asyncio.to_thread(job.store.shards.states, job.job_id)
    await acreate_table_artifact(
        key=artifact_key("quarry-shards", job.job_id),
        table=[
            {
                "shard": s.shard,
                "hosts": s.hosts,
                "done": s.done,
                "pending": s.pending,
                "runs": s.runs,
                "status": s.status,
            }
            for s in states
        ],
        description=f"QuarryCore job {job.job_id}: its shards"
        + (
            f"; runs found dead and started again: {len(report.abandoned)}"
            if report.abandoned
            else ""
        ),
    )
    return signals


async def _announce(job: OpenJob) -> None:
    if job.generated_id and flow_run.id is not None:
        async with get_client() as client:
            await client.update_flow_run(flow_run.id, name=job.job_id)
    resuming = f" (resuming from a {job.resumed_from} checkpoint)" if job.resumed_from else ""
    if job.inputs_left is not None:
        resuming += "; the rest of the inputs is registered while the batches run"
    get_run_logger().info(
        "job %s: %d input URLs (%d invalid); %d pending, %d already done%s",
        job.job_id,
        job.inputs,
        job.invalid,
        job.before.pending,
        job.before.processed,
        resuming,
    )


async def _summarise(job: OpenJob, result: CrawlResult, stage: str) -> None:
    await acreate_table_artifact(
        key=artifact_key("quarry-summary", job.job_id),
        table=result.summary_rows(),
        description=f"QuarryCore job {job.job_id}: {stage}",
    )
    logger = get_run_logger()
    logger.info(
        "job %s %s: %d stored, %d filtered, %d duplicate, %d failed, %d pending "
        "(%.0f pages/min this run)",
        job.job_id,
        stage,
        result.stored_count,
        result.filtered_count,
        result.duplicate_count,
        result.failed_count,
        result.pending_count,
        result.pages_per_minute,
    )
    if stage == "interrupted":
        logger.warning(
            "job %s interrupted; %d URLs left; resume with: %s",
            job.job_id,
            result.pending_count,
            resume_command(job),
        )


def resume_command(job: OpenJob) -> str:
    if job.source == "archive":
        return f"quarry reextract --job-id {job.job_id}"
    return f"quarry crawl --resume {job.job_id}"


def _hand_back(sig: int) -> None:
    """End the run the way the signal would have, now that the work is committed:
    Prefect marks it Crashed (or Cancelled, when a worker cancelled it)."""
    if sig == signal.SIGINT:
        raise KeyboardInterrupt
    raise TerminationSignal(signal=sig)


__all__ = ["quarry_crawl"]

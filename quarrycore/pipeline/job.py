"""Opening a job (checkpoint, store, lease, scope, sitemaps, intake) and finishing it.

Plain async functions: the flow calls them through tasks, a script or a test calls them
directly. What a run did is read back from the store, the single source of truth.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from quarrycore.checkpoint import (
    CheckpointMirror,
    CheckpointStage,
    JobCheckpointer,
    PipelineCheckpoint,
    find_checkpoint,
    read_checkpoint,
)
from quarrycore.credentials import mask_url
from quarrycore.deadletters import DeadLetterStore
from quarrycore.exceptions import ConfigError, IncompatibleCheckpoint, NoURLsError
from quarrycore.jobid import new_job_id, validate_job_id
from quarrycore.pipeline import recrawl, reextract, warcintake
from quarrycore.pipeline.inputs import (
    hosts_of,
    input_origins,
    inputs_to_register,
    register,
    sitemap_pages,
)
from quarrycore.pipeline.inputsleft import InputsLeft
from quarrycore.pipeline.request import JobRequest, ScopeRequest, check_request
from quarrycore.pipeline.result import CrawlResult
from quarrycore.pipeline.scope import CrawlScope
from quarrycore.settings import QuarrySettings
from quarrycore.store import DocumentStore, JobCounts, JobLock, intake
from quarrycore.store.intake import IntakeMarker

logger = logging.getLogger("quarrycore.job")


@dataclass(kw_only=True)
class OpenJob:
    """A job held by this run: its stores, lease, scope and checkpointer."""

    job_id: str
    settings: QuarrySettings
    store: DocumentStore
    dead_letters: DeadLetterStore
    lease: JobLock
    scope: CrawlScope
    checkpointer: JobCheckpointer
    before: JobCounts  # where the job stood when this run started
    inputs: int = 0  # input URLs given to this run
    invalid: int = 0  # of which malformed
    resumed_from: CheckpointStage | None = None
    generated_id: bool = False  # no job id was given: the run may want to show this one
    keeps_out_links: bool = True  # documents keep their out-links (settings.keep_out_links)
    inputs_left: InputsLeft | None = None  # registered while the run goes (inputsleft.py)
    source: Literal["web", "archive"] = "web"  # archive: a re-extraction (reextract.py)
    shard: int | None = None  # of a job fanned out: the one shard this run crawls
    started: float = field(default_factory=time.monotonic)

    async def register_the_rest(self) -> None:
        """Register the inputs left now, not while batches run (a fan-out, which splits
        the job's URLs, needs them all; a caller that runs no batches)."""
        if self.inputs_left is not None:
            await self.inputs_left.finish()
            counts = self.inputs_left.counts
            self.inputs, self.invalid = counts.inputs, counts.invalid

    def close(self) -> None:
        """Release the lease and the connections (blocking)."""
        try:
            self.lease.release()
        finally:
            self.store.close()
            self.dead_letters.close()


def wants_out_links(keep: bool | None, scope: CrawlScope, crawled_with: CrawlScope) -> bool:
    """Whether the job's documents keep their out-links: as ``keep`` (the setting) says,
    else when the run follows links, or the job did when it was crawled (a
    re-extraction of a crawl keeps the links its documents had)."""
    if keep is not None:
        return keep
    return scope.follows_links or crawled_with.follows_links


async def resume_checkpoint(
    request: JobRequest, settings: QuarrySettings, mirror: CheckpointMirror | None
) -> PipelineCheckpoint | None:
    """The checkpoint a resume starts from (``resume_from``, else the job's file, else its
    mirror), checked against the store it belongs to; ``None`` when there is none."""
    checkpoint: PipelineCheckpoint | None
    if request.resume_from:
        checkpoint = await asyncio.to_thread(read_checkpoint, Path(request.resume_from))
        if request.job_id and request.job_id != checkpoint.job_id:
            raise ConfigError(
                f"{request.resume_from} is a checkpoint of job {checkpoint.job_id!r}, "
                f"not {request.job_id!r}"
            )
    elif request.job_id:
        checkpoint = await find_checkpoint(settings, request.job_id, mirror)
    else:
        raise ConfigError("resume needs the job id (or resume_from, a checkpoint file)")
    legacy = checkpoint is not None and checkpoint.store_id is None  # by URL, then
    if legacy and checkpoint and checkpoint.database_url != mask_url(settings.database_url):
        raise IncompatibleCheckpoint(
            f"the checkpoint of job {checkpoint.job_id!r} belongs to the store "
            f"{checkpoint.database_url}, not {mask_url(settings.database_url)}"
            "; pass that database URL to resume"
        )
    return checkpoint


def check_checkpoint_store(
    checkpoint: PipelineCheckpoint, store: DocumentStore, *, known: bool
) -> None:
    """A resume needs the job in this store, or a checkpoint that lists all its pending
    URLs (a store that lost the job, rebuilt from the list). Otherwise the pending URLs
    are in the store the checkpoint was taken from: a clear error, nothing written."""
    if known or checkpoint.urls_remaining_complete:
        return
    taken_from = checkpoint.database_url
    if checkpoint.store_id and checkpoint.store_id != store.store_id:
        taken_from += f" (store {checkpoint.store_id}; this one is {store.store_id})"
    raise IncompatibleCheckpoint(
        f"job {checkpoint.job_id!r} is not in the store {mask_url(store.url)}, "
        f"and its checkpoint does not list its {checkpoint.pending_count} pending URLs: "
        f"they are in the store it was taken from, {taken_from}; resume with that store"
    )


def _nothing_to_resume(job_id: str, settings: QuarrySettings) -> ConfigError:
    return ConfigError(
        f"nothing to resume: no checkpoint and no job {job_id!r} in "
        f"{mask_url(settings.database_url)}"
    )


async def check_resumable(
    request: JobRequest, settings: QuarrySettings, mirror: CheckpointMirror | None
) -> None:
    """Fail on what would stop a resume (a damaged or foreign checkpoint, a job that
    neither a checkpoint nor the store has) before any work: :func:`open_job`'s own
    checks, for a caller that wants them early (the CLI, before Prefect starts)."""
    checkpoint = await resume_checkpoint(request, settings, mirror)
    job_id = validate_job_id(checkpoint.job_id if checkpoint else request.job_id or "")
    store = await asyncio.to_thread(DocumentStore, settings.database_url)
    try:
        known = await asyncio.to_thread(store.job_exists, job_id)
        if checkpoint is not None:
            await asyncio.to_thread(check_checkpoint_store, checkpoint, store, known=known)
        elif not known:
            raise _nothing_to_resume(job_id, settings)
    finally:
        await asyncio.to_thread(store.close)


async def open_job(
    request: JobRequest,
    settings: QuarrySettings,
    *,
    run_id: str | None = None,
    mirror: CheckpointMirror | None = None,
) -> OpenJob:
    """Take the job: check the request, find the checkpoint to resume from, take the
    lease, register the inputs, and save the first checkpoint."""
    check_request(request, settings)
    checkpoint = await resume_checkpoint(request, settings, mirror) if request.resuming else None
    job_id = validate_job_id(checkpoint.job_id if checkpoint else request.job_id or new_job_id())
    store = await asyncio.to_thread(DocumentStore, settings.database_url)
    dead_letters = await asyncio.to_thread(DeadLetterStore.for_settings, settings)
    drop = settings.drop_params
    try:
        known = await asyncio.to_thread(store.job_exists, job_id)
        if checkpoint is not None:  # before anything is written (the checkpoint above all)
            await asyncio.to_thread(check_checkpoint_store, checkpoint, store, known=known)
        origins: list[str] = []
        if request.scope is not None or request.sitemaps:  # the inputs' sites are needed
            origins = await asyncio.to_thread(input_origins, request.inputs(), drop_params=drop)
        recorded = await asyncio.to_thread(store.job_settings, job_id)
        # A job of input WARC files stays one: a resume reads its records, never the web.
        archived = bool(request.warc_files) or recorded.get("input") == "warc"
        if known and request.warc_files and recorded.get("input") != "warc":
            raise ConfigError(f"job {job_id!r} crawls the web: give WARC files to a new job")
        saved = recorded.get("crawl_scope")
        saved_scope = CrawlScope.from_json(saved) if saved else CrawlScope()
        if request.scope is not None:
            scope = request.scope.scope(hosts_of(origins))
        elif request.reextract or archived:
            scope = CrawlScope()  # links: followed by the crawl already, or not ours to follow
        else:
            scope = saved_scope
        found: list[str] = []
        if request.sitemaps:  # within the scope asked for, else on the inputs' own hosts
            listed = (request.scope or ScopeRequest()).scope(hosts_of(origins))
            found = await sitemap_pages(settings, origins, listed)
        if (request.resuming or request.reextract) and checkpoint is None and not known:
            raise _nothing_to_resume(job_id, settings)
        new_job = not known and checkpoint is None and not found
        marker = IntakeMarker(store, job_id)
        unfinished = await asyncio.to_thread(marker.unfinished) if known else None
        todo = inputs_to_register(job_id, request, found, unfinished)
        paths = warcintake.input_paths(request.warc_files)
        if new_job and not paths and not await asyncio.to_thread(request.has_inputs):
            raise NoURLsError("no URLs given: pass urls, urls_file, or the id of an existing job")
        job_settings = {
            **settings.recorded(),
            "crawl_scope": scope.to_json(),
            "input": "warc" if archived else "web",
        }
        await asyncio.to_thread(store.start_job, job_id, job_settings)
        lease = store.lease(job_id, ttl=settings.job_lock_ttl)
        await asyncio.to_thread(lease.acquire)
        if paths:
            await asyncio.to_thread(
                warcintake.register_files, store, dead_letters, job_id, paths, settings, lease
            )
        if request.reextract:
            await asyncio.to_thread(reextract.start, store, job_id, settings, lease)
        elif settings.recrawl_after is not None and known:
            await asyncio.to_thread(recrawl.start, store, job_id, settings.recrawl_after, lease)
    except BaseException:
        await asyncio.to_thread(store.close)
        await asyncio.to_thread(dead_letters.close)
        raise
    job = OpenJob(
        job_id=job_id,
        settings=settings,
        store=store,
        dead_letters=dead_letters,
        lease=lease,
        scope=scope,
        checkpointer=JobCheckpointer(
            store,
            job_id,
            settings,
            pipeline_id=run_id,
            start_time=datetime.now(UTC),
            mirror=mirror,
        ),
        before=JobCounts(job_id),
        resumed_from=checkpoint.stage if checkpoint else None,
        generated_id=request.job_id is None and checkpoint is None,
        keeps_out_links=wants_out_links(settings.keep_out_links, scope, saved_scope),
        source="archive" if request.reextract or archived else "web",
    )
    try:
        await _register(job, todo, marker, checkpoint, known=known, run_id=run_id)
    except BaseException:
        await asyncio.to_thread(job.close)
        raise
    return job


async def _register(
    job: OpenJob,
    todo: tuple[Iterator[str], list[str]] | None,
    marker: IntakeMarker,
    checkpoint: PipelineCheckpoint | None,
    *,
    known: bool,
    run_id: str | None,
) -> None:
    store, job_id = job.store, job.job_id
    if checkpoint is not None and not known and checkpoint.urls_remaining_complete:
        # A store that lost the job (a new machine's SQLite): the checkpoint lists it.
        await asyncio.to_thread(store.add_urls, job_id, checkpoint.urls_remaining)
    if todo is not None:
        inputs, files = todo
        # Marked while it runs: a run stopped half-way leaves the rest to the next.
        await asyncio.to_thread(marker.begin, files)
        registering = functools.partial(
            register,
            store,
            job.dead_letters,
            job_id,
            drop_params=job.settings.drop_params,
            limit=job.scope.max_pages,
            run_id=run_id,
        )
        # The first chunk now, so that the run starts with work; the rest while it runs.
        first = await asyncio.to_thread(lambda: list(itertools.islice(inputs, intake.CHUNK)))
        counts = await asyncio.to_thread(registering, first)
        rest = await asyncio.to_thread(_rest_of, inputs)
        if rest is None:
            await asyncio.to_thread(marker.end)
        else:
            checkpointer = job.checkpointer
            checkpointer.lists_all_pending = False

            def all_registered() -> None:
                checkpointer.lists_all_pending = True

            job.inputs_left = InputsLeft(
                registering, rest, marker=marker, before=counts, on_complete=all_registered
            )
        job.inputs, job.invalid = counts.inputs, counts.invalid
    job.before = await asyncio.to_thread(store.counts, job_id)
    await job.checkpointer.save_or_warn("running", mirror=True)


def _rest_of(inputs: Iterator[str]) -> Iterator[str] | None:
    """``inputs`` as they are, or ``None`` when none is left (reads one)."""
    first = next(inputs, None)
    return None if first is None else itertools.chain([first], inputs)


async def finish_job(job: OpenJob, *, stop_requested: bool) -> tuple[CrawlResult, CheckpointStage]:
    """The job's result from the store, its final checkpoint, and its status: completed,
    or interrupted when a stop was asked and URLs are left (else, as it stands)."""
    counts = await asyncio.to_thread(job.store.counts, job.job_id, job.shard)
    result = CrawlResult.from_counts(
        counts,
        duration_s=time.monotonic() - job.started,
        processed_before=job.before.processed,
        flow_run_id=job.checkpointer.pipeline_id,
    )
    # Inputs left unregistered (a stop came first) are pending too, in the file.
    unregistered = job.inputs_left is not None and not job.inputs_left.complete
    stage: CheckpointStage = (
        "interrupted" if (stop_requested and result.pending_count) or unregistered else result.state
    )
    await job.checkpointer.save_or_warn(stage, mirror=True)
    if job.shard is not None:  # the job's status is its parent run's
        await asyncio.to_thread(job.store.shards.set_status, job.job_id, job.shard, stage)
        return result, stage
    await asyncio.to_thread(job.store.set_job_status, job.job_id, stage)
    if job.source == "archive" and not stop_requested:
        left = await asyncio.to_thread(job.store.archived_pending_page, job.job_id, 0, 1)
        if not left:
            await asyncio.to_thread(job.store.end_reextract, job.job_id)
    return result, stage

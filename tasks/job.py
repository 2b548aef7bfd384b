"""Opening and finishing a job, as tasks: thin wrappers around quarrycore.pipeline.job."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from quarrycore.checkpoint import CheckpointMirror, CheckpointStage
from quarrycore.pipeline.job import OpenJob, finish_job, open_job
from quarrycore.pipeline.request import JobRequest
from quarrycore.pipeline.result import CrawlResult
from quarrycore.pipeline.shardjob import open_shard
from quarrycore.settings import QuarrySettings


@task(name="open-job", cache_policy=NO_CACHE, persist_result=False)
async def open_job_task(
    request: JobRequest,
    settings: QuarrySettings,
    run_id: str | None,
    mirror: CheckpointMirror | None,
) -> OpenJob:
    """Check the request, take the job's lease, register its inputs, first checkpoint."""
    return await open_job(request, settings, run_id=run_id, mirror=mirror)


@task(name="open-shard", cache_policy=NO_CACHE, persist_result=False)
async def open_shard_task(
    job_id: str,
    shard: int,
    settings: QuarrySettings,
    run_id: str | None,
    mirror: CheckpointMirror | None,
) -> OpenJob:
    """Take one shard of a job fanned out (its own lease), first checkpoint of it."""
    return await open_shard(job_id, shard, settings, run_id=run_id, mirror=mirror)


@task(name="finish-job", cache_policy=NO_CACHE, persist_result=False)
async def finish_job_task(
    job: OpenJob, stop_requested: bool
) -> tuple[CrawlResult, CheckpointStage]:
    """The job's result from the store, its final checkpoint and status."""
    return await finish_job(job, stop_requested=stop_requested)

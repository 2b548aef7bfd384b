"""The store task: commit one batch's documents and failures."""

from __future__ import annotations

import asyncio
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run, task_run

from quarrycore.pipeline.steps import Committer
from quarrycore.records import Batch, BatchReport
from quarrycore.tasks.crawl import forget_fetched


@task(
    name="store",
    task_run_name="store-batch-{batch.index}",
    cache_policy=NO_CACHE,
    persist_result=False,
)
async def store_batch(
    batch: Batch, committer: Committer, fetched_in: Path | None = None
) -> BatchReport:
    """Documents upserted and every URL of the batch marked done, failures recorded;
    then the batch's persisted fetch (under ``fetched_in``) is deleted."""
    report = await asyncio.to_thread(
        committer.commit,
        batch,
        flow_run_id=str(flow_run.id) if flow_run.id else None,
        task_run_id=str(task_run.id) if task_run.id else None,
    )
    if fetched_in is not None:
        forget_fetched(batch, fetched_in)
    return report

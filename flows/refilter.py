"""The ``quarry-refilter`` flow: today's quality filters and dedup applied again to a
job's stored texts, without fetching (``quarrycore/pipeline/refilter.py``)."""

from __future__ import annotations

import asyncio
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from quarrycore.flows.parameters import settings_for_run
from quarrycore.pipeline.refilter import refilter_job
from quarrycore.settings import QuarrySettings
from quarrycore.store import DocumentStore
from quarrycore.tasks.policy import retry_options


@task(name="refilter-job", cache_policy=NO_CACHE, persist_result=False)
async def refilter_task(settings: QuarrySettings, job_id: str, batch_size: int) -> dict[str, int]:
    """Judge the job's stored documents again, a transaction per batch. One task for the
    job: each batch commits on its own and a verdict depends only on the text and the
    settings, so a retry (or a new run) redoes nothing that was done."""

    def run() -> dict[str, int]:
        store = DocumentStore(settings.database_url)
        try:
            report = refilter_job(store, job_id, settings, batch_size=batch_size)
        finally:
            store.close()
        names = ("to_filtered", "to_stored", "to_duplicate", "refiltered")
        return {"examined": report.examined, **{name: report.total(name) for name in names}}

    return await asyncio.to_thread(run)


@flow(name="quarry-refilter", log_prints=False)
async def quarry_refilter(
    job_id: str,
    database_url: str | None = None,
    database_block: str | None = None,
    options: dict[str, Any] | None = None,
    batch_size: int = 500,
) -> dict[str, int]:
    """Apply the filter settings (``options={"quality": {...}}`` or ``QUARRY_QUALITY__*``
    of the worker) to job ``job_id``'s stored documents; returns what moved."""
    settings = await settings_for_run(
        {"database_url": database_url, "database_block": database_block, "options": options}
    )
    # Retried like the crawl's tasks: transient errors only, backoff with jitter.
    task = refilter_task.with_options(**retry_options(settings))
    moved = await task(settings, job_id, batch_size)
    get_run_logger().info("job %s refiltered: %s", job_id, moved)
    return moved

"""The ``replay-dead-letters`` flow: retry what failed, through the same pipeline.

Matching dead letters are made pending again in their job and the job is run: a URL
that now succeeds is stored and its dead letter resolved; one that fails again updates
its row (count, attempts, next retry time).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from quarrycore.deadletters import DeadLetterFilter
from quarrycore.flows.crawl import quarry_crawl
from quarrycore.flows.parameters import settings_for_run
from quarrycore.pipeline.replay import requeue_dead_letters
from quarrycore.pipeline.result import CrawlResult
from quarrycore.settings import QuarrySettings


@task(name="requeue-dead-letters", cache_policy=NO_CACHE, persist_result=False)
async def requeue_task(
    settings: QuarrySettings, selection: DeadLetterFilter
) -> dict[str, list[str]]:
    """Make the selected URLs pending again in their jobs."""
    return await asyncio.to_thread(requeue_dead_letters, settings, selection)


@flow(name="replay-dead-letters", log_prints=False)
async def replay_dead_letters(
    job_id: str | None = None,
    stage: str | None = None,
    error_types: list[str] | None = None,
    max_attempts: int | None = None,
    only_due: bool = True,
    force: bool = False,
    database_url: str | None = None,
    dead_letter_url: str | None = None,
    options: dict[str, Any] | None = None,
    database_block: str | None = None,
) -> list[CrawlResult]:
    """Re-run open dead letters: retryable ones (all of them with ``force``), of one job
    or all, optionally one stage / error types, those failed fewer than ``max_attempts``
    times, and (``only_due``) only those whose next retry time has come."""
    logger = get_run_logger()
    store_parameters = {"database_url": database_url, "database_block": database_block}
    options = {**(options or {}), "dead_letter_url": dead_letter_url}
    settings = await settings_for_run({**store_parameters, "options": options})
    selection = DeadLetterFilter(
        job_id=job_id,
        stage=stage,
        error_types=tuple(error_types or ()),
        retryable=None if force else True,
        due_before=datetime.now(UTC) if only_due else None,
        max_attempts=max_attempts,
    )
    by_job = await requeue_task(settings, selection)
    if not by_job:
        logger.info("no dead letters match; nothing to replay")
    results: list[CrawlResult] = []
    for job, urls in by_job.items():
        logger.info("replaying %d dead letters of job %s", len(urls), job)
        # The block again, not its URL: a password stays out of the parameters.
        results.append(await quarry_crawl(job_id=job, **store_parameters, options=options))
    return results

"""The ``replay-dead-letters`` flow: retry what failed, through the same pipeline.

Matching dead letters are made pending again in their job and the job is run: a URL
that now succeeds is stored and its dead letter resolved; one that fails again updates
its row (count, attempts, next retry time).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger
from quarrycore.blocks.store import store_url
from quarrycore.flows.crawl import build_settings, quarry_crawl

from quarrycore.deadletters.store import DeadLetterFilter, DeadLetterStore
from quarrycore.pipeline.result import CrawlResult
from quarrycore.store.documents import DocumentStore


def select_replay(
    dead_letters: DeadLetterStore, selection: DeadLetterFilter
) -> dict[str, list[str]]:
    """URLs to replay, by job."""
    by_job: dict[str, list[str]] = defaultdict(list)
    for row in dead_letters.rows(selection):
        if row["url"] not in by_job[row["job_id"]]:
            by_job[row["job_id"]].append(row["url"])
    return dict(by_job)


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
    overrides = {
        **(options or {}),
        "database_url": await store_url(database_url, database_block),
        "dead_letter_url": dead_letter_url,
    }
    settings = build_settings(overrides)
    selection = DeadLetterFilter(
        job_id=job_id,
        stage=stage,
        error_types=tuple(error_types or ()),
        retryable=None if force else True,
        due_before=datetime.now(UTC) if only_due else None,
        max_attempts=max_attempts,
    )
    dead_letters = await asyncio.to_thread(DeadLetterStore.for_settings, settings)
    store = await asyncio.to_thread(DocumentStore, settings.database_url)
    results: list[CrawlResult] = []
    try:
        by_job = await asyncio.to_thread(select_replay, dead_letters, selection)
        if not by_job:
            logger.info("no dead letters match; nothing to replay")
        for job, urls in by_job.items():
            await asyncio.to_thread(store.requeue, job, urls)
            logger.info("replaying %d dead letters of job %s", len(urls), job)
            result: CrawlResult = await quarry_crawl(
                job_id=job,
                # The block again, not its URL: a password stays out of the parameters.
                database_url=None if database_block else settings.database_url,
                database_block=database_block,
                options={k: v for k, v in overrides.items() if k != "database_url" and v},
            )
            results.append(result)
    finally:
        await asyncio.to_thread(store.close)
        await asyncio.to_thread(dead_letters.close)
    return results

"""The store task: commit one batch's documents and failures."""

from __future__ import annotations

import asyncio

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run, task_run

from quarrycore.deadletters.store import DeadLetterStore
from quarrycore.extract.neardup import NearDupConfig
from quarrycore.records import BatchReport, ExtractOutput
from quarrycore.store.documents import DocumentStore


def commit(
    extracted: ExtractOutput,
    store: DocumentStore,
    dead_letters: DeadLetterStore,
    *,
    flow_run_id: str | None = None,
    task_run_id: str | None = None,
    max_urls: int | None = None,
    near_dup: NearDupConfig | None = None,
) -> BatchReport:
    """Dead letters first, then the store's transaction: the store is the commit point,
    so a crash in between leaves the URLs pending and their dead letters open; the next
    run's outcome then updates or resolves those rows."""
    batch = extracted.batch
    dead_letters.record(
        batch.job_id,
        [f for f in extracted.failures if not f.dead_lettered],
        flow_run_id=flow_run_id,
        task_run_id=task_run_id,
        metadata={"batch": batch.index},
    )
    dead_letters.resolve(batch.job_id, [doc.url for doc in extracted.documents])
    duplicates = store.commit_batch(
        batch.job_id,
        extracted.documents,
        extracted.failures,
        links=extracted.links,
        max_urls=max_urls,
        near_dup=near_dup,
    )
    return BatchReport(
        batch_index=batch.index,
        stored=len(extracted.documents) - duplicates,
        failed=len(extracted.failures) + duplicates,
    )


@task(
    name="store",
    task_run_name="store-batch-{extracted.batch.index}",
    cache_policy=NO_CACHE,
    persist_result=False,
)
async def store_batch(
    extracted: ExtractOutput,
    store: DocumentStore,
    dead_letters: DeadLetterStore,
    max_urls: int | None = None,
    near_dup: NearDupConfig | None = None,
) -> BatchReport:
    """Documents upserted and every URL of the batch marked done, failures recorded."""
    return await asyncio.to_thread(
        commit,
        extracted,
        store,
        dead_letters,
        flow_run_id=str(flow_run.id) if flow_run.id else None,
        task_run_id=str(task_run.id) if task_run.id else None,
        max_urls=max_urls,
        near_dup=near_dup,
    )

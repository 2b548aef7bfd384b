"""The store task: commit one batch's documents and failures."""

from __future__ import annotations

import asyncio

from prefect import task
from prefect.cache_policies import NO_CACHE

from quarrycore.records import BatchReport, ExtractOutput
from quarrycore.store import DocumentStore


@task(
    name="store",
    task_run_name="store-batch-{extracted.batch.index}",
    cache_policy=NO_CACHE,
    persist_result=False,
)
async def store_batch(extracted: ExtractOutput, store: DocumentStore) -> BatchReport:
    """One transaction: documents upserted, their URLs and the failures marked done."""
    batch = extracted.batch
    await asyncio.to_thread(
        store.commit_batch, batch.job_id, extracted.documents, extracted.failures
    )
    return BatchReport(
        batch_index=batch.index,
        stored=len(extracted.documents),
        failed=len(extracted.failures),
    )

"""The extract task: main text, metadata, filters and links of one fetched batch."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from quarrycore.pipeline.steps import Extract
from quarrycore.records import Batch


@task(
    name="extract",
    task_run_name="extract-batch-{batch.index}",
    cache_policy=NO_CACHE,
    persist_result=False,
)
async def extract_batch(batch: Batch, step: Extract) -> Batch:
    """Extract every fetched page of the batch in the extraction processes."""
    return await step.run(batch)

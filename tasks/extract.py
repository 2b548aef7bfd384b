"""The extract task: main text and metadata of one fetched batch."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from quarrycore.extract.pool import ExtractorPool
from quarrycore.records import CrawlOutput, ExtractOutput


@task(
    name="extract",
    task_run_name="extract-batch-{crawled.batch.index}",
    cache_policy=NO_CACHE,
    persist_result=False,
)
async def extract_batch(crawled: CrawlOutput, pool: ExtractorPool) -> ExtractOutput:
    """Extract every fetched page of the batch in the extraction processes."""
    return await pool.extract(crawled)

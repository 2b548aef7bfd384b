"""The crawl task: fetch one batch of URLs."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.context import TaskRunContext
from prefect.serializers import CompressedSerializer, PickleSerializer

from quarrycore.fetch.client import Fetcher
from quarrycore.records import Batch, CrawlOutput


def crawl_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """Key over the job and every URL of the batch (a key from one URL gave false hits)."""
    batch: Batch = parameters["batch"]
    return f"crawl-{batch.fingerprint}"


@task(
    name="crawl",
    task_run_name="crawl-batch-{batch.index}",
    cache_key_fn=crawl_cache_key,
    persist_result=True,
    # Plain pickle (our records are dataclasses) and zlib level 1: see resultcodec.
    result_serializer=CompressedSerializer(
        serializer=PickleSerializer(picklelib="pickle"),
        compressionlib="quarrycore.tasks.resultcodec",
    ),
)
async def crawl_batch(batch: Batch, fetcher: Fetcher) -> CrawlOutput:
    """Fetch every URL of ``batch``; each ends as a page or a failure with its reason."""
    return await fetcher.fetch_batch(batch)

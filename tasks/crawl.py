"""The crawl task: fetch one batch, its result persisted until the batch is committed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext
from prefect.serializers import PickleSerializer

from quarrycore.pipeline.steps import Fetch, ReadArchive
from quarrycore.records import Batch


def crawl_cache_key(context: TaskRunContext | None, parameters: dict[str, Any]) -> str:
    """Key over the job and every URL of the batch (a key from one URL gave false hits)."""
    batch: Batch = parameters["batch"]
    return f"crawl-{batch.fingerprint}"


def forget_fetched(batch: Batch, result_dir: Path) -> None:
    """Delete the batch's persisted fetch: once it is committed the store answers for its
    URLs, so the cache (the HTML of the whole batch) never grows with the crawl."""
    (result_dir / crawl_cache_key(None, {"batch": batch})).unlink(missing_ok=True)


@task(
    name="crawl",
    task_run_name="crawl-batch-{batch.index}",
    cache_key_fn=crawl_cache_key,
    persist_result=True,
    # Not also kept in memory: Prefect's result store keeps the last 1,000 results it
    # persisted in an in-process cache, the HTML of 1,000 batches (the flow process grew
    # to 1.1 GB over 3,180 documentation pages). The engine reads the batch back once.
    cache_result_in_memory=False,
    # Plain pickle (our records are dataclasses), zlib level 1, one base64: see resultcodec.
    result_serializer=PickleSerializer(picklelib="quarrycore.tasks.resultcodec"),
)
async def crawl_batch(batch: Batch, step: Fetch) -> Batch:
    """Fetch every URL of ``batch``; each ends as a page or a failure with its reason."""
    return await step.run(batch)


@task(
    name="read-archive",
    task_run_name="read-archive-batch-{batch.index}",
    cache_policy=NO_CACHE,
    persist_result=False,  # the archive is the persisted copy already
)
async def read_archive_batch(batch: Batch, step: ReadArchive) -> Batch:
    """Read every URL of ``batch`` back from its WARC record (re-extraction): no request."""
    return await step.run(batch)

"""Opening one shard of a job fanned out (``fanout.py``): the run of a single shard.

The job's inputs are registered and split by the run that holds the job; a shard's run
takes only the shard's own lease, reads only the shard's pending URLs, and saves the
shard's own checkpoint (``{job_id}.shard-{k}.json``), so it is resumable alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

from quarrycore.checkpoint import CheckpointMirror, JobCheckpointer
from quarrycore.deadletters import DeadLetterStore
from quarrycore.exceptions import ConfigError, JobLocked
from quarrycore.jobid import validate_job_id
from quarrycore.pipeline.job import OpenJob
from quarrycore.pipeline.scope import CrawlScope
from quarrycore.settings import QuarrySettings
from quarrycore.store import DocumentStore, JobLock

logger = logging.getLogger("quarrycore.job")


async def _take(lease: JobLock) -> None:
    """Take the shard's lease, waiting up to its TTL and a half for a holder that is
    gone: a run started again on another machine than the dead holder's cannot tell a
    dead process from a live one there, only see its lease expire."""
    deadline = time.monotonic() + lease.ttl * 1.5
    while True:
        try:
            await asyncio.to_thread(lease.acquire)
            return
        except JobLocked as exc:
            if time.monotonic() > deadline:
                raise
            logger.info("%s; waiting", exc)
            await asyncio.sleep(min(2.0, lease.ttl / 10))


async def open_shard(
    job_id: str,
    shard: int,
    settings: QuarrySettings,
    *,
    run_id: str | None = None,
    mirror: CheckpointMirror | None = None,
) -> OpenJob:
    """Take shard ``shard`` of the fanned-out job ``job_id`` and save its checkpoint."""
    validate_job_id(job_id)
    store = await asyncio.to_thread(DocumentStore, settings.database_url)
    dead_letters = await asyncio.to_thread(DeadLetterStore.for_settings, settings)
    try:
        shards = await asyncio.to_thread(store.shards.count, job_id)
        if shards is None or not 0 <= shard < shards:
            raise ConfigError(
                f"job {job_id!r} has no shard {shard}"
                + ("" if shards is None else f" (it is fanned out into {shards})")
            )
        recorded = await asyncio.to_thread(store.job_settings, job_id)
        saved = recorded.get("crawl_scope")
        lease = store.lease(job_id, ttl=settings.job_lock_ttl, shard=shard)
        await _take(lease)
        await asyncio.to_thread(store.shards.set_status, job_id, shard, "running")
    except BaseException:
        await asyncio.to_thread(store.close)
        await asyncio.to_thread(dead_letters.close)
        raise
    job = OpenJob(
        job_id=job_id,
        settings=settings,
        store=store,
        dead_letters=dead_letters,
        lease=lease,
        scope=CrawlScope.from_json(saved) if saved else CrawlScope(),
        checkpointer=JobCheckpointer(
            store,
            job_id,
            settings,
            pipeline_id=run_id,
            start_time=datetime.now(UTC),
            mirror=mirror,
            shard=shard,
        ),
        before=await asyncio.to_thread(store.counts, job_id, shard),
        shard=shard,
    )
    await job.checkpointer.save_or_warn("running", mirror=True)
    return job

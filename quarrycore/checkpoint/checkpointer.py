"""Taking a job's checkpoint from the store and saving it: to the file, and to a mirror
(the Prefect Block, supplied by the Prefect layer) for resuming on another machine.

Every checkpoint is read from the store (the commit point), so a save from a hook in
another process, with nothing of the flow's memory, is as true as one from the flow.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import Protocol

from quarrycore.checkpoint.file import CheckpointFile
from quarrycore.checkpoint.model import CheckpointStage, PipelineCheckpoint
from quarrycore.settings import QuarrySettings
from quarrycore.store import DocumentStore

logger = logging.getLogger("quarrycore.checkpoint")
_COST_FACTOR = 10.0  # at most ~1/10 of the time goes to checkpoints after batches


class CheckpointMirror(Protocol):
    """A copy of each job's checkpoint kept outside this machine."""

    async def save(self, checkpoint: PipelineCheckpoint) -> None: ...

    async def load(self, job_id: str) -> PipelineCheckpoint | None: ...


def snapshot(
    store: DocumentStore,
    job_id: str,
    settings: QuarrySettings,
    *,
    stage: CheckpointStage,
    pipeline_id: str | None,
    start_time: datetime,
    shard: int | None = None,
    list_pending: bool = True,
) -> PipelineCheckpoint:
    """The checkpoint the store implies right now, of the job or of one ``shard`` of it
    (blocking: run it in a thread). ``list_pending=False``: the store does not have all
    the job's URLs yet (its inputs are being registered), so none are listed."""
    counts = store.counts(job_id, shard)
    remaining = (
        store.pending_urls(job_id, settings.checkpoint_inline_urls, shard) if list_pending else None
    )
    done: list[int] = []
    if shard is None and store.shards.count(job_id):
        done = [s.shard for s in store.shards.states(job_id) if s.pending == 0]
    return PipelineCheckpoint.from_counts(
        counts,
        stage=stage,
        pipeline_id=pipeline_id,
        start_time=start_time,
        batch_size=settings.batch_size,
        database_url=settings.database_url,
        urls_remaining=remaining,
        store_id=store.store_id,
        warc_inputs=store.warc_input_progress(job_id),
        shard=shard,
        shards_done=done,
    )


class JobCheckpointer:
    """Saves the job's checkpoint file (and, throttled, its mirror); saves never
    interleave and each reads the store afresh, so the newest state always wins."""

    def __init__(
        self,
        store: DocumentStore,
        job_id: str,
        settings: QuarrySettings,
        *,
        pipeline_id: str | None,
        start_time: datetime,
        mirror: CheckpointMirror | None = None,
        shard: int | None = None,
    ) -> None:
        self._store = store
        self.shard = shard
        self._job_id = job_id
        self._settings = settings
        self.pipeline_id = pipeline_id  # the run (Prefect flow run id) that saves
        self._start_time = start_time
        self._mirror = mirror
        self._file = CheckpointFile(settings.checkpoint_dir)
        self._lock = asyncio.Lock()
        self._last_mirror_save = float("-inf")
        self._last_save_end = float("-inf")
        self._last_cost = 0.0
        self.last: PipelineCheckpoint | None = None
        # False while the job's inputs are still being registered (pipeline/inputsleft.py).
        self.lists_all_pending = True

    async def save_if_cheap(self) -> PipelineCheckpoint | None:
        """Save after a batch unless that would spend more than ~10 % of the time on
        checkpoints (a snapshot of 1M URLs costs ~0.25 s: then every ~2.5 s)."""
        if time.monotonic() - self._last_save_end < _COST_FACTOR * self._last_cost:
            return self.last
        return await self.save("running")

    async def save(self, stage: CheckpointStage, *, mirror: bool = False) -> PipelineCheckpoint:
        """Save the file; the mirror too when ``mirror`` or when its interval is up."""
        async with self._lock:
            started = time.perf_counter()
            checkpoint = await asyncio.to_thread(
                snapshot,
                self._store,
                self._job_id,
                self._settings,
                stage=stage,
                pipeline_id=self.pipeline_id,
                start_time=self._start_time,
                shard=self.shard,
                list_pending=self.lists_all_pending,
            )
            await asyncio.to_thread(self._file.write, checkpoint)
            interval = self._settings.checkpoint_block_interval
            due = time.monotonic() - self._last_mirror_save >= interval
            if self._mirror is not None and (mirror or due):
                try:
                    await self._mirror.save(checkpoint)
                    self._last_mirror_save = time.monotonic()
                except Exception as exc:  # the file is saved; the mirror can wait
                    logger.warning("checkpoint mirror not saved: %s", exc)
            self.last = checkpoint
            self._last_cost = time.perf_counter() - started
            self._last_save_end = time.monotonic()
            logger.debug("checkpoint %s saved in %.3f s", stage, self._last_cost)
            return checkpoint

    async def save_or_warn(
        self, stage: CheckpointStage, *, mirror: bool = False
    ) -> PipelineCheckpoint | None:
        """:meth:`save`, where a failure (a full disk) is reported, not raised: the
        checkpoint is a mirror, and the commits it mirrors are in the store already."""
        try:
            return await self.save(stage, mirror=mirror)
        except Exception as exc:
            logger.warning(
                "checkpoint %s not saved (%s: %s); the store has every commit",
                stage,
                type(exc).__name__,
                exc,
            )
            return None


async def find_checkpoint(
    settings: QuarrySettings, job_id: str, mirror: CheckpointMirror | None
) -> PipelineCheckpoint | None:
    """The job's checkpoint: its file, else its mirror; ``None`` when neither has one."""
    found = await asyncio.to_thread(CheckpointFile(settings.checkpoint_dir).read, job_id)
    if found is None and mirror is not None:
        found = await mirror.load(job_id)
    return found

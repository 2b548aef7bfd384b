"""Checkpoints of a running job, stop signals, and the hooks that save on crash/cancel.

Every checkpoint is read from the store (the commit point), so a save from a hook in
another process, with nothing of the flow's memory, is as true as one from the flow.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.objects import State as PrefectState
from quarrycore.blocks.checkpoint import PipelineCheckpointBlock, checkpoint_block_name

from quarrycore.checkpoint.model import CheckpointFile, CheckpointStage, PipelineCheckpoint
from quarrycore.settings import QuarrySettings
from quarrycore.store.documents import DocumentStore

logger = logging.getLogger("quarrycore.checkpoint")
_COST_FACTOR = 10.0


def snapshot(
    store: DocumentStore,
    job_id: str,
    settings: QuarrySettings,
    *,
    stage: CheckpointStage,
    pipeline_id: str | None,
    start_time: datetime,
) -> PipelineCheckpoint:
    """The checkpoint the store implies right now (blocking: run it in a thread)."""
    counts = store.counts(job_id)
    remaining = store.pending_urls(job_id, settings.checkpoint_inline_urls)
    return PipelineCheckpoint.from_counts(
        counts,
        stage=stage,
        pipeline_id=pipeline_id,
        start_time=start_time,
        batch_size=settings.batch_size,
        database_url=settings.database_url,
        urls_remaining=remaining,
    )


async def save_block(checkpoint: PipelineCheckpoint, settings: QuarrySettings) -> None:
    block = PipelineCheckpointBlock.from_checkpoint(
        checkpoint, inline_limit=settings.checkpoint_block_inline_urls
    )
    await block.asave(checkpoint_block_name(checkpoint.job_id), overwrite=True)


async def load_block(job_id: str) -> PipelineCheckpoint | None:
    try:
        loaded: object = await PipelineCheckpointBlock.aload(checkpoint_block_name(job_id))
    except ValueError:  # Prefect: "Unable to find block document named ..."
        return None
    return loaded.to_checkpoint() if isinstance(loaded, PipelineCheckpointBlock) else None


class JobCheckpointer:
    """Saves the job's checkpoint file (and, throttled, its Block); saves never
    interleave and each reads the store afresh, so the newest state always wins."""

    def __init__(
        self,
        store: DocumentStore,
        job_id: str,
        settings: QuarrySettings,
        *,
        pipeline_id: str | None,
        start_time: datetime,
    ) -> None:
        self._store = store
        self._job_id = job_id
        self._settings = settings
        self._pipeline_id = pipeline_id
        self._start_time = start_time
        self._file = CheckpointFile(settings.checkpoint_dir)
        self._lock = asyncio.Lock()
        self._last_block_save = float("-inf")
        self._last_save_end = float("-inf")
        self._last_cost = 0.0
        self.last: PipelineCheckpoint | None = None

    async def save_if_cheap(self) -> PipelineCheckpoint | None:
        """Save after a batch unless that would spend more than ~10 % of the time on
        checkpoints (a snapshot of 1M URLs costs ~0.25 s: then every ~2.5 s)."""
        if time.monotonic() - self._last_save_end < _COST_FACTOR * self._last_cost:
            return self.last
        return await self.save("running")

    async def save(self, stage: CheckpointStage, *, mirror: bool = False) -> PipelineCheckpoint:
        async with self._lock:
            started = time.perf_counter()
            checkpoint = await asyncio.to_thread(
                snapshot,
                self._store,
                self._job_id,
                self._settings,
                stage=stage,
                pipeline_id=self._pipeline_id,
                start_time=self._start_time,
            )
            await asyncio.to_thread(self._file.write, checkpoint)
            due = (
                time.monotonic() - self._last_block_save >= self._settings.checkpoint_block_interval
            )
            if self._settings.checkpoint_block and (mirror or due):
                try:
                    await save_block(checkpoint, self._settings)
                    self._last_block_save = time.monotonic()
                except Exception as exc:  # the file is saved; the mirror can wait
                    logger.warning("checkpoint Block not saved: %s", exc)
            self.last = checkpoint
            self._last_cost = time.perf_counter() - started
            self._last_save_end = time.monotonic()
            logger.debug("checkpoint %s saved in %.3f s", stage, self._last_cost)
            return checkpoint

    async def run_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._settings.checkpoint_interval)
            await self.save("running")


class StopSignals:
    """The one handler for SIGINT and SIGTERM while a job runs.

    The first signal asks the job to stop taking batches and commit what is in flight
    (within ``shutdown_grace``); the second cancels in-flight work at once (what is
    committed stays committed). Afterwards the signal is handed back to whoever handled
    it before (Prefect's SIGTERM bridge, Python's KeyboardInterrupt)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, on_second: Callable[[], None]) -> None:
        self.received: int | None = None
        self.stopped = asyncio.Event()
        self._on_second = on_second
        self._previous: dict[int, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def install(self) -> bool:
        self._loop = asyncio.get_running_loop()
        try:
            for sig in self.SIGNALS:
                self._previous[sig] = signal.getsignal(sig)
                self._loop.add_signal_handler(sig, self._handle, sig)
        except (ValueError, RuntimeError):  # not the main thread: Prefect's handling stays
            self.restore()
            return False
        return True

    def restore(self) -> None:
        if self._loop is None:
            return
        for sig, previous in self._previous.items():
            self._loop.remove_signal_handler(sig)
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()

    @property
    def stop_requested(self) -> bool:
        return self.received is not None

    def _handle(self, sig: int) -> None:
        if self.received is None:
            self.received = sig
            self.stopped.set()
            logger.warning(
                "%s: finishing the batches in flight, then stopping (again to stop at once)",
                signal.Signals(sig).name,
            )
        else:
            logger.warning("%s again: stopping now", signal.Signals(sig).name)
            self._on_second()


# -- hooks: the flow crashed or was cancelled -------------------------------------------

_graceful_stop_saved: set[str] = set()


def mark_saved_on_stop(flow_run_id: str | None) -> None:
    if flow_run_id:
        _graceful_stop_saved.add(flow_run_id)


async def _save_from_hook(flow_run: FlowRun, stage: CheckpointStage) -> None:
    if str(flow_run.id) in _graceful_stop_saved:
        return  # the flow saved an "interrupted" checkpoint itself after its last commit
    from quarrycore.blocks.store import store_url
    from quarrycore.flows.crawl import build_settings  # local: the hook runs in the flow's module

    params = flow_run.parameters or {}
    job_id = params.get("job_id") or flow_run.name
    settings = build_settings(
        {
            **(params.get("options") or {}),
            "database_url": await store_url(
                params.get("database_url"), params.get("database_block")
            ),
            "batch_size": params.get("batch_size"),
        }
    )
    store = await asyncio.to_thread(DocumentStore, settings.database_url)
    try:
        if not await asyncio.to_thread(store.job_exists, job_id):
            return
        checkpoint = await asyncio.to_thread(
            snapshot,
            store,
            job_id,
            settings,
            stage=stage,
            pipeline_id=str(flow_run.id),
            start_time=flow_run.start_time or datetime.now(UTC),
        )
        await asyncio.to_thread(CheckpointFile(settings.checkpoint_dir).write, checkpoint)
        if settings.checkpoint_block:
            await save_block(checkpoint, settings)
        logger.warning(
            "checkpoint saved after the run was %s: %d of %d URLs done",
            stage,
            checkpoint.processed_count,
            checkpoint.processed_count + checkpoint.pending_count,
        )
    finally:
        await asyncio.to_thread(store.close)


async def on_crashed(flow: Any, flow_run: FlowRun, state: PrefectState) -> None:
    await _save_from_hook(flow_run, "crashed")


async def on_cancellation(flow: Any, flow_run: FlowRun, state: PrefectState) -> None:
    await _save_from_hook(flow_run, "cancelled")

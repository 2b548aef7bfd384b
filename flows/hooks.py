"""The flow's ``on_crashed`` and ``on_cancellation`` hooks: save the checkpoint.

Prefect may run them in another process than the flow's (a cancellation through a
worker), with nothing of the flow's memory: the checkpoint is read from the store.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.objects import State as PrefectState

from quarrycore.blocks.checkpoint import BlockMirror
from quarrycore.checkpoint import CheckpointMirror, CheckpointStage, JobCheckpointer
from quarrycore.flows.parameters import resolve_job_id, settings_for_run
from quarrycore.settings import QuarrySettings
from quarrycore.store import DocumentStore

logger = logging.getLogger("quarrycore.checkpoint")

# Runs (of this process) that saved an "interrupted" checkpoint after their last commit.
_graceful_stop_saved: set[str] = set()


def mark_saved_on_stop(flow_run_id: str | None) -> None:
    if flow_run_id:
        _graceful_stop_saved.add(flow_run_id)


def mirror_for(settings: QuarrySettings) -> CheckpointMirror | None:
    """The checkpoint Block mirror, unless ``checkpoint_block`` is off."""
    if not settings.checkpoint_block:
        return None
    return BlockMirror(inline_limit=settings.checkpoint_block_inline_urls)


async def _save_from_hook(flow_run: FlowRun, stage: CheckpointStage) -> None:
    if str(flow_run.id) in _graceful_stop_saved:
        return  # the flow saved an "interrupted" checkpoint itself after its last commit
    params = flow_run.parameters or {}
    job_id = resolve_job_id(params.get("job_id"), flow_run.expected_start_time) or flow_run.name
    settings = await settings_for_run(params)
    store = await asyncio.to_thread(DocumentStore, settings.database_url)
    try:
        if not await asyncio.to_thread(store.job_exists, job_id):
            return
        checkpointer = JobCheckpointer(
            store,
            job_id,
            settings,
            pipeline_id=str(flow_run.id),
            start_time=flow_run.start_time or datetime.now(UTC),
            mirror=mirror_for(settings),
            shard=params.get("shard"),
        )
        checkpoint = await checkpointer.save(stage, mirror=True)
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
    await _cancel_shards(flow_run)


async def _cancel_shards(flow_run: FlowRun) -> None:
    """A cancelled parent of a job fanned out cancels its shards' flow runs (its watch
    does it too when the signal reaches it; this covers a parent stopped otherwise)."""
    params = flow_run.parameters or {}
    if not params.get("shards") or params.get("shard") is not None:
        return
    from quarrycore.flows.fanout import cancel_flow_run

    job_id = resolve_job_id(params.get("job_id"), flow_run.expected_start_time) or flow_run.name
    settings = await settings_for_run(params)
    store = await asyncio.to_thread(DocumentStore, settings.database_url)
    try:
        states = await asyncio.to_thread(store.shards.states, job_id)
    finally:
        await asyncio.to_thread(store.close)
    for shard in states:
        run_id = shard.flow_run_id
        if run_id and not run_id.startswith("pid-"):
            try:
                await cancel_flow_run(run_id)
            except Exception as exc:
                logger.warning("shard %d: run %s not cancelled: %s", shard.shard, run_id, exc)

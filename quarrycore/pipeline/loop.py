"""The batch loop of a job, free of Prefect: source -> steps -> sink, overlapped.

While batch *n* goes through the steps and the sink, batch *n+1* is read from the source
(fetched). The steps are passed in, so the flow can hand Prefect tasks and tests plain
steps.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

from quarrycore.pipeline.steps import Sink, Step
from quarrycore.records import Batch, BatchReport

OnDone = Callable[[BatchReport], Awaitable[None]]
logger = logging.getLogger("quarrycore.pipeline")


@dataclass(frozen=True, slots=True, kw_only=True)
class Pipeline:
    """``source`` (fetching, or reading an archive) overlaps the previous batch's
    ``steps`` (extracting, filtering) and ``sink`` (the commit)."""

    source: Step
    steps: Sequence[Step] = ()
    sink: Sink


async def _process(batch: Batch, pipeline: Pipeline, on_done: OnDone) -> None:
    for step in pipeline.steps:
        batch = await step(batch)
    report = await pipeline.sink(batch)
    try:
        await on_done(report)
    except Exception as exc:
        # The batch is committed; what follows (a checkpoint, the progress shown in the
        # UI) must not end the run: the next batch's side effects try again.
        logger.warning(
            "after batch %d: %s: %s (the batch is committed; the run goes on)",
            report.batch_index,
            type(exc).__name__,
            exc,
        )


async def run_batches(
    batches: AsyncIterator[Batch],
    pipeline: Pipeline,
    *,
    on_done: OnDone,
    should_stop: Callable[[], bool] = lambda: False,
) -> None:
    """Run every batch through the pipeline; reading the next batch from the source
    overlaps the previous batch's steps and commit. Returns early (after committing
    in-flight work) once ``should_stop()`` is true."""
    processing: asyncio.Task[None] | None = None
    try:
        async for batch in batches:
            if should_stop():
                break
            read = await pipeline.source(batch)
            if processing is not None:
                await processing
            processing = asyncio.create_task(_process(read, pipeline, on_done))
        if processing is not None:
            await processing
            processing = None
    except asyncio.CancelledError:
        # Stop at once: what is committed stays committed, the rest stays pending.
        if processing is not None:
            processing.cancel()
            await asyncio.gather(processing, return_exceptions=True)
        raise
    finally:
        if processing is not None and not processing.done():
            # Leaving on an error: let the batch already in hand commit, if it can.
            await asyncio.gather(processing, return_exceptions=True)

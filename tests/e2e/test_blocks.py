"""The checkpoint Block against the Prefect test server."""

from __future__ import annotations

from datetime import UTC, datetime

from quarrycore.blocks.checkpoint import PipelineCheckpointBlock, checkpoint_block_name
from quarrycore.flows.hooks import load_block, save_block

from quarrycore.checkpoint.model import PipelineCheckpoint
from quarrycore.settings import QuarrySettings
from quarrycore.store.documents import JobCounts


def _checkpoint(job_id: str, pending: int) -> PipelineCheckpoint:
    counts = JobCounts(
        job_id=job_id, pending=pending, stored=7, failed=2, failures_by_type={"crawl/HTTPStatus": 2}
    )
    return PipelineCheckpoint.from_counts(
        counts,
        stage="interrupted",
        pipeline_id="run-1",
        start_time=datetime.now(UTC),
        batch_size=50,
        database_url="postgresql://quarry:secret@db/quarry",
        urls_remaining=[f"http://x/{i}" for i in range(pending)],
    )


async def test_block_round_trip_keeps_every_field() -> None:
    checkpoint = _checkpoint("Round.Trip_1", pending=3)
    await save_block(checkpoint, QuarrySettings())
    loaded = await load_block("Round.Trip_1")
    assert loaded == checkpoint
    assert loaded.database_url == "postgresql://quarry:***@db/quarry"  # no password stored
    assert loaded.error_count_by_stage == {"crawl": 2}


async def test_block_keeps_a_long_list_out() -> None:
    checkpoint = _checkpoint("long-list", pending=50)
    await save_block(checkpoint, QuarrySettings(checkpoint_block_inline_urls=10))
    loaded = await load_block("long-list")
    assert loaded is not None
    assert loaded.urls_remaining == [] and not loaded.urls_remaining_complete
    assert loaded.pending_count == 50 and loaded.processed_count == 9


async def test_block_names_are_valid_and_distinct() -> None:
    names = {checkpoint_block_name(j) for j in ("Job.A", "job-a", "job_a", "JOB.A")}
    assert len(names) == 4
    assert all(n.replace("-", "").isalnum() and n.islower() for n in names)
    assert await load_block("never-saved") is None
    assert PipelineCheckpointBlock.get_block_type_slug() == "quarrycore-pipeline-checkpoint"

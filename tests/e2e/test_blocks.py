"""The checkpoint Block against the Prefect test server."""

from __future__ import annotations

from datetime import UTC, datetime

from quarrycore.blocks.checkpoint import BlockMirror, PipelineCheckpointBlock, checkpoint_block_name
from quarrycore.checkpoint import PipelineCheckpoint
from quarrycore.store import JobCounts


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
    mirror = BlockMirror(inline_limit=1_000)
    await mirror.save(checkpoint)
    loaded = await mirror.load("Round.Trip_1")
    assert loaded == checkpoint
    assert loaded.database_url == "postgresql://quarry:***@db/quarry"  # no password stored
    assert loaded.error_count_by_stage == {"crawl": 2}


async def test_block_keeps_a_long_list_out() -> None:
    checkpoint = _checkpoint("long-list", pending=50)
    mirror = BlockMirror(inline_limit=10)
    await mirror.save(checkpoint)
    loaded = await mirror.load("long-list")
    assert loaded is not None
    assert loaded.urls_remaining == [] and not loaded.urls_remaining_complete
    assert loaded.pending_count == 50 and loaded.processed_count == 9


async def test_block_names_are_valid_and_distinct() -> None:
    names = {checkpoint_block_name(j) for j in ("Job.A", "job-a", "job_a", "JOB.A")}
    assert len(names) == 4
    assert all(n.replace("-", "").isalnum() and n.islower() for n in names)
    assert await BlockMirror(inline_limit=10).load("never-saved") is None
    assert PipelineCheckpointBlock.get_block_type_slug() == "quarrycore-pipeline-checkpoint"

"""Prefect Block types of QuarryCore. Register them with::

prefect block register -m quarrycore.blocks
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from prefect.blocks.core import Block
from pydantic import Field

from quarrycore.checkpoint.model import SCHEMA_VERSION, CheckpointStage, PipelineCheckpoint


def checkpoint_block_name(job_id: str) -> str:
    """Block document names allow lower-case letters, digits and dashes only; the hash
    keeps job ids that differ in case or punctuation apart."""
    slug = "".join(ch if ch.isalnum() else "-" for ch in job_id.lower()).strip("-")
    digest = hashlib.sha1(job_id.encode()).hexdigest()[:8]
    return f"quarry-checkpoint-{slug[:60]}-{digest}"


class PipelineCheckpointBlock(Block):
    """The checkpoint of a QuarryCore job, mirrored in the Prefect server so that a run
    can resume on a worker that does not have the checkpoint file.

    It holds the counts and where the remaining URLs live (the job's pending rows in the
    store); the list itself is kept only while it is short, because every save of a
    block costs ~0.45 s per MB and grows the server's database.

    Example:
        ```python
        from quarrycore.blocks.checkpoint import PipelineCheckpointBlock, checkpoint_block_name

        block = PipelineCheckpointBlock.load(checkpoint_block_name("my-job"))
        print(block.stage, block.processed_count, block.pending_count)
        ```
    """

    _block_type_name = "QuarryCore Pipeline Checkpoint"
    _block_type_slug = "quarrycore-pipeline-checkpoint"
    _description = "Where a QuarryCore crawl job stands, for resuming it on any worker."

    schema_version: int = Field(default=SCHEMA_VERSION, description="Checkpoint format version.")
    job_id: str = Field(description="The QuarryCore job this checkpoint belongs to.")
    pipeline_id: str | None = Field(None, description="Flow run id that wrote it last.")
    stage: CheckpointStage = Field(description="What the run was doing, or how it ended.")
    processed_count: int = Field(ge=0, description="URLs done (stored + failed).")
    stored_count: int = Field(ge=0, description="URLs whose document is stored.")
    failed_count: int = Field(ge=0, description="URLs that failed with a recorded reason.")
    pending_count: int = Field(ge=0, description="URLs not done yet.")
    start_time: datetime = Field(description="When the run that wrote it started.")
    last_checkpoint: datetime = Field(description="When it was written.")
    batch_size: int = Field(gt=0, description="URLs per task run in that run.")
    error_count_by_stage: dict[str, int] = Field(
        default_factory=dict, description="Failed URLs by stage (validate, crawl, ...)."
    )
    failures_by_type: dict[str, int] = Field(
        default_factory=dict, description="Failed URLs by 'stage/ErrorType'."
    )
    urls_remaining: list[str] = Field(
        default_factory=list,
        description="The pending URLs when there are few; see urls_remaining_complete.",
    )
    urls_remaining_complete: bool = Field(
        description="True when urls_remaining lists every pending URL; otherwise they are "
        "the job's pending rows in the store at database_url."
    )
    database_url: str = Field(description="The document store (password hidden).")

    @classmethod
    def from_checkpoint(
        cls, checkpoint: PipelineCheckpoint, *, inline_limit: int
    ) -> PipelineCheckpointBlock:
        data = checkpoint.model_dump()
        if len(checkpoint.urls_remaining) > inline_limit:
            data["urls_remaining"] = []
            data["urls_remaining_complete"] = False
        return cls(**data)

    def to_checkpoint(self) -> PipelineCheckpoint:
        fields = PipelineCheckpoint.model_fields
        return PipelineCheckpoint(**{name: getattr(self, name) for name in fields})

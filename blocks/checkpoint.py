"""The checkpoint Block: each job's checkpoint mirrored in the Prefect server, so a run
can resume on a worker that does not have the checkpoint file."""

from __future__ import annotations

import hashlib

from prefect.blocks.core import Block

from quarrycore.checkpoint import CheckpointFields, PipelineCheckpoint


def checkpoint_block_name(job_id: str) -> str:
    """Block document names allow lower-case letters, digits and dashes only; the hash
    keeps job ids that differ in case or punctuation apart."""
    slug = "".join(ch if ch.isalnum() else "-" for ch in job_id.lower()).strip("-")
    digest = hashlib.sha1(job_id.encode()).hexdigest()[:8]
    return f"quarry-checkpoint-{slug[:60]}-{digest}"


class PipelineCheckpointBlock(Block, CheckpointFields):
    """The checkpoint of a QuarryCore job, mirrored in the Prefect server so that a run
    can resume on a worker that does not have the checkpoint file.

    Its fields are the checkpoint file's (``quarrycore.checkpoint.CheckpointFields``).
    It holds the counts and where the remaining URLs live (the job's pending rows in the
    store); the list itself is kept only while it is short, because every save of a
    block costs ~0.45 s per MB and grows the server's database.

    Example:
        ```python
        from quarrycore.blocks import PipelineCheckpointBlock, checkpoint_block_name

        block = PipelineCheckpointBlock.load(checkpoint_block_name("my-job"))
        print(block.stage, block.processed_count, block.pending_count)
        ```
    """

    _block_type_name = "QuarryCore Pipeline Checkpoint"
    _block_type_slug = "quarrycore-pipeline-checkpoint"
    _description = "Where a QuarryCore crawl job stands, for resuming it on any worker."

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
        fields = CheckpointFields.model_fields
        return PipelineCheckpoint(**{name: getattr(self, name) for name in fields})


class BlockMirror:
    """Checkpoints kept as :class:`PipelineCheckpointBlock` documents, one a job (the
    core's ``CheckpointMirror``)."""

    def __init__(self, *, inline_limit: int) -> None:
        self._inline_limit = inline_limit

    async def save(self, checkpoint: PipelineCheckpoint) -> None:
        block = PipelineCheckpointBlock.from_checkpoint(checkpoint, inline_limit=self._inline_limit)
        await block.asave(checkpoint_block_name(checkpoint.name), overwrite=True)

    async def load(self, job_id: str) -> PipelineCheckpoint | None:
        try:
            loaded: object = await PipelineCheckpointBlock.aload(checkpoint_block_name(job_id))
        except ValueError:  # Prefect: "Unable to find block document named ..."
            return None
        return loaded.to_checkpoint() if isinstance(loaded, PipelineCheckpointBlock) else None

"""The checkpoint of a job: a mirror of the store for resuming and for people to read."""

from quarrycore.checkpoint.checkpointer import (
    CheckpointMirror,
    JobCheckpointer,
    find_checkpoint,
    snapshot,
)
from quarrycore.checkpoint.file import CheckpointFile, read_checkpoint
from quarrycore.checkpoint.model import (
    SCHEMA_VERSION,
    CheckpointFields,
    CheckpointStage,
    PipelineCheckpoint,
)

__all__ = [
    "SCHEMA_VERSION",
    "CheckpointFields",
    "CheckpointFile",
    "CheckpointMirror",
    "CheckpointStage",
    "JobCheckpointer",
    "PipelineCheckpoint",
    "find_checkpoint",
    "read_checkpoint",
    "snapshot",
]

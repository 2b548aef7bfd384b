"""``checkpoints/{job_id}.json``: one file a job, written atomically (temporary file in
the same directory, flush, fsync, ``os.replace``, fsync of the directory), so a reader
sees the old or the new checkpoint, never a torn one."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from quarrycore.checkpoint.model import PipelineCheckpoint
from quarrycore.durable import fsync_directory
from quarrycore.exceptions import CorruptCheckpoint
from quarrycore.jobid import validate_job_id


class CheckpointFile:
    """Owns the checkpoint files of one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, name: str) -> Path:
        """The file of ``name``: a job id, or a shard's checkpoint name."""
        return self.directory / f"{validate_job_id(name)}.json"

    def read(self, name: str) -> PipelineCheckpoint | None:
        path = self.path(name)
        return read_checkpoint(path) if path.exists() else None

    def write(self, checkpoint: PipelineCheckpoint) -> Path:
        target = self.path(checkpoint.name)
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / f".{checkpoint.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        data = checkpoint.model_dump_json(indent=1).encode("utf-8")
        try:
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fsync_directory(self.directory)
        return target


def read_checkpoint(path: Path) -> PipelineCheckpoint:
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise CorruptCheckpoint(f"no checkpoint file at {path}") from exc
    return PipelineCheckpoint.parse(raw, source=str(path))

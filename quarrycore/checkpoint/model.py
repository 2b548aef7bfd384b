"""The checkpoint of a job: a mirror of what the store has committed, for resuming
and for people to look at. When it disagrees with the store, the store wins.

:class:`CheckpointFile` owns ``checkpoints/{job_id}.json`` and writes it atomically:
temporary file in the same directory, flush, fsync, ``os.replace``, fsync of the
directory, so a reader sees the old or the new checkpoint, never a torn one.
"""

from __future__ import annotations

import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from quarrycore.exceptions import CorruptCheckpoint, IncompatibleCheckpoint
from quarrycore.jobid import validate_job_id
from quarrycore.store.documents import JobCounts

SCHEMA_VERSION = 1

CheckpointStage = Literal["running", "interrupted", "cancelled", "crashed", "failed", "completed"]


def mask_database_url(url: str) -> str:
    """The store's URL without its password: checkpoints are files and Prefect blocks."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


class PipelineCheckpoint(BaseModel):
    """Where a job stood when the checkpoint was taken."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = Field(default=SCHEMA_VERSION, description="Format version.")
    job_id: str = Field(description="The job; also the file name.")
    pipeline_id: str | None = Field(None, description="Prefect flow run id that wrote it.")
    stage: CheckpointStage = Field(description="What the run was doing or how it ended.")
    processed_count: int = Field(ge=0, description="URLs done: stored + failed.")
    stored_count: int = Field(ge=0)
    failed_count: int = Field(ge=0)
    pending_count: int = Field(ge=0, description="URLs of the job not done yet.")
    start_time: datetime = Field(description="When the run that wrote it started.")
    last_checkpoint: datetime = Field(description="When it was written.")
    batch_size: int = Field(gt=0)
    error_count_by_stage: dict[str, int] = Field(default_factory=dict)
    failures_by_type: dict[str, int] = Field(default_factory=dict)
    urls_remaining: list[str] = Field(
        default_factory=list,
        description="The pending URLs, in order, when there are at most "
        "checkpoint_inline_urls of them; else empty and urls_remaining_complete is false.",
    )
    urls_remaining_complete: bool = Field(
        description="True when urls_remaining lists every pending URL. Otherwise the "
        "remaining URLs are the job's pending rows in the store (database_url)."
    )
    database_url: str = Field(description="The store (password hidden): the commit point.")

    @field_validator("job_id")
    @classmethod
    def _safe_job_id(cls, value: str) -> str:
        return validate_job_id(value)

    @classmethod
    def from_counts(
        cls,
        counts: JobCounts,
        *,
        stage: CheckpointStage,
        pipeline_id: str | None,
        start_time: datetime,
        batch_size: int,
        database_url: str,
        urls_remaining: list[str] | None,
    ) -> PipelineCheckpoint:
        by_stage: dict[str, int] = {}
        for key, count in counts.failures_by_type.items():
            stage_name = key.split("/", 1)[0]
            by_stage[stage_name] = by_stage.get(stage_name, 0) + count
        complete = urls_remaining is not None and len(urls_remaining) == counts.pending
        return cls(
            job_id=counts.job_id,
            pipeline_id=pipeline_id,
            stage=stage,
            processed_count=counts.processed,
            stored_count=counts.stored,
            failed_count=counts.failed,
            pending_count=counts.pending,
            start_time=start_time,
            last_checkpoint=datetime.now(UTC),
            batch_size=batch_size,
            error_count_by_stage=by_stage,
            failures_by_type=counts.failures_by_type,
            urls_remaining=list(urls_remaining or []) if complete else [],
            urls_remaining_complete=complete,
            database_url=mask_database_url(database_url),
        )

    @classmethod
    def parse(cls, raw: bytes, *, source: str) -> PipelineCheckpoint:
        """Parse a checkpoint; a clear error for damage or another schema version."""
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CorruptCheckpoint(f"{source} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise CorruptCheckpoint(f"{source} does not hold a checkpoint object")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise IncompatibleCheckpoint(
                f"{source} has schema version {version!r}; this QuarryCore reads version "
                f"{SCHEMA_VERSION}"
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise CorruptCheckpoint(
                f"{source} is not a valid checkpoint: {where}: {first['msg']}"
            ) from exc


class CheckpointFile:
    """Owns the checkpoint files of one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, job_id: str) -> Path:
        return self.directory / f"{validate_job_id(job_id)}.json"

    def read(self, job_id: str) -> PipelineCheckpoint | None:
        path = self.path(job_id)
        return read_checkpoint(path) if path.exists() else None

    def write(self, checkpoint: PipelineCheckpoint) -> Path:
        target = self.path(checkpoint.job_id)
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / f".{checkpoint.job_id}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
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
        _fsync_directory(self.directory)
        return target


def read_checkpoint(path: Path) -> PipelineCheckpoint:
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise CorruptCheckpoint(f"no checkpoint file at {path}") from exc
    return PipelineCheckpoint.parse(raw, source=str(path))


def _fsync_directory(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

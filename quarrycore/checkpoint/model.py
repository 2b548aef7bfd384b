"""The checkpoint of a job: a mirror of what the store has committed, for resuming
and for people to look at. When it disagrees with the store, the store wins.

:class:`CheckpointFields` is the one list of its fields (with their descriptions): the
file's model :class:`PipelineCheckpoint` and the Prefect Block both derive from it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from quarrycore.credentials import mask_url
from quarrycore.exceptions import CorruptCheckpoint, IncompatibleCheckpoint
from quarrycore.jobid import validate_job_id
from quarrycore.store import JobCounts

SCHEMA_VERSION = 1

CheckpointStage = Literal["running", "interrupted", "cancelled", "crashed", "failed", "completed"]


def checkpoint_name(job_id: str, shard: int | None = None) -> str:
    """The job's checkpoint name, or its shard's (``job.shard-2``)."""
    return job_id if shard is None else f"{job_id}.shard-{shard}"


class CheckpointFields(BaseModel):
    """Where a job stood when the checkpoint was taken: the fields, each described."""

    schema_version: int = Field(default=SCHEMA_VERSION, description="Format version.")
    job_id: str = Field(description="The job; also the file name.")
    pipeline_id: str | None = Field(None, description="Prefect flow run id that wrote it.")
    stage: CheckpointStage = Field(description="What the run was doing or how it ended.")
    processed_count: int = Field(
        ge=0, description="URLs with a verdict: stored + filtered + duplicate + failed."
    )
    stored_count: int = Field(ge=0, description="URLs whose document is kept.")
    filtered_count: int = Field(
        0, ge=0, description="URLs whose document is stored with a quality filter's verdict."
    )
    duplicate_count: int = Field(0, ge=0, description="URLs that repeat a kept document.")
    failed_count: int = Field(
        ge=0, description="URLs that failed to fetch or extract, with a recorded reason."
    )
    pending_count: int = Field(ge=0, description="URLs of the job not done yet.")
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
        description="The pending URLs, in order, when there are at most "
        "checkpoint_inline_urls of them; else empty and urls_remaining_complete is false.",
    )
    urls_remaining_complete: bool = Field(
        description="True when urls_remaining lists every pending URL. Otherwise the "
        "remaining URLs are the job's pending rows in the store (database_url)."
    )
    warc_inputs: dict[str, int] = Field(
        default_factory=dict,
        description="A job of input WARC files: each file and the offset its reading goes on "
        "from (-1: read to its end). Empty for a crawl of the web.",
    )
    shard: int | None = Field(
        None,
        description="Of a job fanned out: the shard this checkpoint is of (its file "
        "{job_id}.shard-{shard}.json); None for the job as a whole.",
    )
    shards_done: list[int] = Field(
        default_factory=list,
        description="Of a job fanned out, in the job's own checkpoint: the shards with "
        "no pending URL (a resume starts only the others).",
    )
    database_url: str = Field(description="The store (password hidden): the commit point.")
    store_id: str | None = Field(
        None,
        description="The store's identity (a UUID written in it once): which store this "
        "checkpoint mirrors, whatever URL reaches it. None in checkpoints of older versions.",
    )


class PipelineCheckpoint(CheckpointFields):
    """A checkpoint as the file holds it: immutable, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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
        store_id: str | None = None,
        warc_inputs: dict[str, int] | None = None,
        shard: int | None = None,
        shards_done: list[int] | None = None,
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
            filtered_count=counts.filtered,
            duplicate_count=counts.duplicate,
            failed_count=counts.failed,
            pending_count=counts.pending,
            start_time=start_time,
            last_checkpoint=datetime.now(UTC),
            batch_size=batch_size,
            error_count_by_stage=by_stage,
            failures_by_type=counts.failures_by_type,
            urls_remaining=list(urls_remaining or []) if complete else [],
            urls_remaining_complete=complete,
            database_url=mask_url(database_url),
            store_id=store_id,
            warc_inputs=dict(warc_inputs or {}),
            shard=shard,
            shards_done=list(shards_done or []),
        )

    @property
    def name(self) -> str:
        """The file's (and the Block's) name: the job id, with its shard if it has one."""
        return checkpoint_name(self.job_id, self.shard)

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

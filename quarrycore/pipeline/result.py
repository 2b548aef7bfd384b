"""The typed result of a crawl run, and the summary shown to people."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from quarrycore.store import JobCounts

JobState = Literal["completed", "interrupted", "failed"]


class CrawlResult(BaseModel):
    """What ``quarry_crawl(...)`` returns: counts are the store's, for the whole job."""

    job_id: str
    state: JobState = Field(description="completed: no URL of the job is pending.")
    processed_count: int = Field(
        ge=0, description="URLs with a verdict: stored + filtered + duplicate + failed."
    )
    stored_count: int = Field(ge=0, description="URLs whose document is kept.")
    filtered_count: int = Field(0, ge=0, description="Stored, rejected by a quality filter.")
    duplicate_count: int = Field(0, ge=0, description="Pointers to a kept document.")
    failed_count: int = Field(ge=0, description="Fetch or extract errors (the dead letters).")
    gone_count: int = Field(0, ge=0, description="Pages a revisit found removed (404/410).")
    pending_count: int = Field(ge=0)
    failures_by_type: dict[str, int] = Field(default_factory=dict, description="stage/ErrorType")
    filtered_by: dict[str, int] = Field(default_factory=dict, description="filter -> URLs")
    duration_s: float = Field(ge=0, description="Wall time of this run.")
    processed_this_run: int = Field(ge=0)
    pages_per_minute: float = Field(ge=0, description="URLs done per minute in this run.")
    flow_run_id: str | None = None
    visit_run: int = Field(1, ge=1, description="The job's visit round (1 until a recrawl).")
    visits: dict[str, int] = Field(
        default_factory=dict,
        description="What this round's visits found: new, changed, unchanged, gone, failed.",
    )

    @classmethod
    def from_counts(
        cls,
        counts: JobCounts,
        *,
        duration_s: float,
        processed_before: int,
        flow_run_id: str | None,
    ) -> CrawlResult:
        this_run = max(0, counts.processed - processed_before)
        return cls(
            job_id=counts.job_id,
            state="completed" if counts.pending == 0 else "interrupted",
            processed_count=counts.processed,
            stored_count=counts.stored,
            filtered_count=counts.filtered,
            duplicate_count=counts.duplicate,
            failed_count=counts.failed,
            gone_count=counts.gone,
            visit_run=counts.visit_run,
            visits=counts.visits,
            pending_count=counts.pending,
            failures_by_type=counts.failures_by_type,
            filtered_by=counts.filtered_by,
            duration_s=round(duration_s, 3),
            processed_this_run=this_run,
            pages_per_minute=round(this_run / duration_s * 60, 1) if duration_s > 0 else 0.0,
            flow_run_id=flow_run_id,
        )

    def summary_rows(self) -> list[dict[str, str | int | float]]:
        rows: list[dict[str, str | int | float]] = [
            {"metric": "state", "value": self.state},
            {"metric": "stored", "value": self.stored_count},
            {"metric": "filtered", "value": self.filtered_count},
            {"metric": "duplicate", "value": self.duplicate_count},
            {"metric": "failed", "value": self.failed_count},
            {"metric": "gone", "value": self.gone_count},
            {"metric": "pending", "value": self.pending_count},
            {"metric": "processed this run", "value": self.processed_this_run},
            {"metric": "duration (s)", "value": self.duration_s},
            {"metric": "pages/minute", "value": self.pages_per_minute},
        ]
        if self.visit_run > 1:  # a recrawl: what this round's visits found
            rows += [
                {"metric": f"round {self.visit_run}: {name}", "value": self.visits.get(name, 0)}
                for name in ("new", "changed", "unchanged", "gone", "failed")
            ]
        rows += [
            {"metric": f"filtered: {k}", "value": v} for k, v in sorted(self.filtered_by.items())
        ]
        rows += [
            {"metric": f"failed: {k}", "value": v} for k, v in sorted(self.failures_by_type.items())
        ]
        return rows

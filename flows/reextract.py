"""The ``quarry-reextract`` flow: a job's pages read back from its WARC archive and
taken through today's extraction, filters and dedup, without a request to any site.

It runs like a crawl (checkpoints, lease, batches as tasks, summary artifact): a stopped
or cancelled run is finished by running it again (``quarrycore/pipeline/reextract.py``).
"""

from __future__ import annotations

from typing import Any

from prefect.runtime import flow_run

from quarrycore.flows._compat import sync_compatible_flow
from quarrycore.flows.crawl import run_request
from quarrycore.flows.hooks import on_cancellation, on_crashed
from quarrycore.flows.parameters import settings_for_run
from quarrycore.pipeline.request import JobRequest
from quarrycore.pipeline.result import CrawlResult


def _run_name() -> str:
    return f"reextract-{flow_run.parameters.get('job_id')}"


@sync_compatible_flow(
    name="quarry-reextract",
    flow_run_name=_run_name,
    log_prints=False,
    on_crashed=[on_crashed],
    on_cancellation=[on_cancellation],
)
async def quarry_reextract(
    job_id: str,
    database_url: str | None = None,
    database_block: str | None = None,
    batch_size: int | None = None,
    checkpoint_interval: float | None = None,
    options: dict[str, Any] | None = None,
) -> CrawlResult:
    """Extract job ``job_id`` again from its WARC records (under the worker's
    ``data_dir``/warc): the settings of this run (``options``, ``QUARRY_*``) decide the
    extraction, filters and dedup. Each URL gets its verdict anew; no site is asked."""
    settings = await settings_for_run(
        {
            "options": options,
            "database_url": database_url,
            "database_block": database_block,
            "batch_size": batch_size,
            "checkpoint_interval": checkpoint_interval,
        }
    )
    return await run_request(JobRequest(job_id=job_id, reextract=True), settings)


__all__ = ["quarry_reextract"]

"""The batch loop of a flow run: the job's steps as Prefect tasks, progress in the UI."""

from __future__ import annotations

from prefect import get_run_logger
from prefect.artifacts import acreate_progress_artifact, aupdate_progress_artifact

from quarrycore.pipeline.job import OpenJob
from quarrycore.pipeline.loop import Pipeline
from quarrycore.pipeline.runner import JobStages, run_job
from quarrycore.pipeline.signals import StopSignals
from quarrycore.pipeline.steps import Fetch
from quarrycore.records import BatchReport
from quarrycore.tasks.crawl import crawl_batch, read_archive_batch
from quarrycore.tasks.extract import extract_batch
from quarrycore.tasks.hooks import record_failed_batch
from quarrycore.tasks.policy import retry_options
from quarrycore.tasks.steps import TaskSink, TaskStep
from quarrycore.tasks.store import store_batch


def artifact_key(prefix: str, job_id: str) -> str:
    slug = "".join(ch if ch.isalnum() else "-" for ch in job_id.lower())
    return f"{prefix}-{slug}"[:100]


def task_pipeline(job: OpenJob, stages: JobStages) -> Pipeline:
    """The job's steps, each a Prefect task with retries and a dead-letter failure hook."""
    settings, dead_letters = job.settings, job.dead_letters
    retries = retry_options(settings)
    result_dir = settings.result_dir.resolve()
    crawl = crawl_batch.with_options(
        result_storage=result_dir,
        persist_result=settings.persist_results,
        on_failure=[record_failed_batch(dead_letters, "crawl")],
        **retries,
    )
    extract = extract_batch.with_options(
        on_failure=[record_failed_batch(dead_letters, "extract")], **retries
    )
    store = store_batch.with_options(
        on_failure=[record_failed_batch(dead_letters, "store")], **retries
    )
    source = (
        TaskStep(crawl, stages.fetch)
        if isinstance(stages.fetch, Fetch)
        else TaskStep(read_archive_batch.with_options(**retries), stages.fetch)
    )
    return Pipeline(
        source=source,
        steps=[TaskStep(extract, stages.extract)],
        sink=TaskSink(
            store, stages.commit.committer, result_dir, outage_wait=settings.store_outage_wait
        ),
    )


async def run_batches_of(job: OpenJob) -> StopSignals:
    """Run every pending batch of the job as tasks; return the signal state."""
    logger = get_run_logger()
    progress_id = await acreate_progress_artifact(
        progress=0.0,
        key=artifact_key("quarry-progress", job.job_id),
        description=f"URLs of job {job.job_id} done",
    )
    done_this_run = 0

    async def on_done(report: BatchReport) -> None:
        nonlocal done_this_run
        done_this_run += report.done
        previous = job.checkpointer.last
        checkpoint = await job.checkpointer.save_if_cheap()  # errors: see run_batches
        saved = checkpoint is not None and checkpoint is not previous
        where = ""
        if saved and checkpoint is not None:
            total = checkpoint.processed_count + checkpoint.pending_count
            where = f"; checkpoint: {checkpoint.processed_count} of {total} done"
            await aupdate_progress_artifact(
                progress_id, progress=100.0 * checkpoint.processed_count / max(1, total)
            )
        logger.info(
            "batch %d: %d stored, %d filtered, %d duplicate, %d failed%s; "
            "%d URLs done in this run%s",
            report.batch_index,
            report.stored,
            report.filtered,
            report.duplicate,
            report.failed,
            f", {report.unchanged} unchanged, {report.gone} gone"
            if report.unchanged or report.gone
            else "",
            done_this_run,
            where,
        )

    async with JobStages(job) as stages:
        return await run_job(job, task_pipeline(job, stages), on_done=on_done)

"""Re-extraction without fetching: a job's pages read back from its WARC archive and
taken through today's extraction, filters and dedup (``quarry reextract``).

It is a run of the job whose source is the archive instead of the web
(:class:`~quarrycore.pipeline.steps.ReadArchive`): the same checkpoints, lease, batches
and commits as a crawl, so it stops and resumes like one. :func:`start` opens it.
"""

from __future__ import annotations

import logging

from quarrycore.exceptions import ConfigError
from quarrycore.settings import QuarrySettings
from quarrycore.store import DocumentStore, JobLock

logger = logging.getLogger("quarrycore.job")


def start(store: DocumentStore, job_id: str, settings: QuarrySettings, lease: JobLock) -> int:
    """Make the job's extracted, archived URLs pending again (or continue a
    re-extraction under way), once every WARC file they name is found under the
    archive's root; returns how many URLs were made pending (blocking). Nothing is
    changed when a file is missing or the job has no archive: a :class:`ConfigError`
    says why."""
    files = store.archived_files(job_id)
    if not files:
        raise ConfigError(
            f"job {job_id!r} has no archived responses to re-extract "
            "(it was crawled with warc=false, or before the archive existed)"
        )
    root = settings.warc_dir.resolve()
    missing = [name for name in files if not (root / name).is_file()]
    if missing:
        raise ConfigError(
            f"{len(missing)} of the {len(files)} WARC files of job {job_id!r} are not under "
            f"{root} (first: {missing[0]}); set data_dir to where the archive is"
        )
    reopened = store.reopen_archived(job_id, lease=lease)
    logger.info(
        "job %s: re-extracting %s from %d WARC files",
        job_id,
        f"{reopened} URLs" if reopened else "(continuing the one under way)",
        len(files),
    )
    return reopened

"""Replaying dead letters: the matching URLs are made pending again in their jobs, so a
run of each job takes them through the same pipeline.

A job is changed only while this process holds its lease (a live run's job is refused
with ``JobLocked`` before anything changes), and every URL is validated again: one that
is no longer a valid URL (an invalid input replayed with ``force``) is recorded as
``InvalidURL`` instead of failing a whole batch of the run.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from quarrycore.deadletters import DeadLetterFilter, DeadLetterStore
from quarrycore.settings import QuarrySettings
from quarrycore.store import DocumentStore
from quarrycore.store.intake import validate_inputs

logger = logging.getLogger("quarrycore.deadletters")


def select_replay(
    dead_letters: DeadLetterStore, selection: DeadLetterFilter
) -> dict[str, list[str]]:
    """URLs to replay, by job, each once (in the order of the rows)."""
    by_job: dict[str, dict[str, None]] = defaultdict(dict)
    for row in dead_letters.rows(selection):
        by_job[row["job_id"]][row["url"]] = None
    return {job: list(urls) for job, urls in by_job.items()}


def requeue_dead_letters(
    settings: QuarrySettings, selection: DeadLetterFilter
) -> dict[str, list[str]]:
    """Make the selected dead letters' URLs pending in their jobs, each job under its
    lease; the URLs made pending, by job (blocking)."""
    dead_letters = DeadLetterStore.for_settings(settings)
    store = DocumentStore(settings.database_url)
    try:
        replayed: dict[str, list[str]] = {}
        for job, urls in select_replay(dead_letters, selection).items():
            if not store.job_exists(job):
                logger.warning("job %s is not in this store: its dead letters stay open", job)
                continue
            lease = store.lease(job, ttl=settings.job_lock_ttl)
            lease.acquire()  # JobLocked for a job a live run holds: nothing changed
            try:
                intake = validate_inputs(urls, drop_params=settings.drop_params)
                dead_letters.record(job, intake.invalid)
                store.requeue(job, intake.valid)
            finally:
                lease.release()
            if intake.invalid:
                logger.warning(
                    "job %s: %d dead letters are not valid URLs; recorded as InvalidURL",
                    job,
                    len(intake.invalid),
                )
            replayed[job] = intake.valid
        return replayed
    finally:
        store.close()
        dead_letters.close()

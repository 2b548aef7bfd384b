"""Replaying dead letters: the matching URLs are made pending again in their jobs, so a
run of each job takes them through the same pipeline."""

from __future__ import annotations

from collections import defaultdict

from quarrycore.deadletters import DeadLetterFilter, DeadLetterStore
from quarrycore.settings import QuarrySettings
from quarrycore.store import DocumentStore


def select_replay(
    dead_letters: DeadLetterStore, selection: DeadLetterFilter
) -> dict[str, list[str]]:
    """URLs to replay, by job."""
    by_job: dict[str, list[str]] = defaultdict(list)
    for row in dead_letters.rows(selection):
        if row["url"] not in by_job[row["job_id"]]:
            by_job[row["job_id"]].append(row["url"])
    return dict(by_job)


def requeue_dead_letters(
    settings: QuarrySettings, selection: DeadLetterFilter
) -> dict[str, list[str]]:
    """Make the selected dead letters' URLs pending in their jobs; the URLs, by job
    (blocking)."""
    dead_letters = DeadLetterStore.for_settings(settings)
    store = DocumentStore(settings.database_url)
    try:
        by_job = select_replay(dead_letters, selection)
        for job, urls in by_job.items():
            store.requeue(job, urls)
        return by_job
    finally:
        store.close()
        dead_letters.close()

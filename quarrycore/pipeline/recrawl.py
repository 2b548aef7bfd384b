"""Starting a recrawl round: the job's URLs last checked longer ago than the revisit
policy (``recrawl_after``) made due again, a window at a time, each window one
transaction under the job's lease (``quarrycore/store/revisits.py``). A run killed while
it does so continues the same round, with the same cutoff, when the job runs again."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from quarrycore.store import DocumentStore, JobLock

logger = logging.getLogger("quarrycore.job")

WINDOW = 10_000  # registration numbers a transaction


def start(store: DocumentStore, job_id: str, recrawl_after: float, lease: JobLock) -> int:
    """Make the job's URLs due whose last check is older than ``recrawl_after`` seconds
    (or finish making due the round under way; or, when its URLs are all due and some
    not yet revisited, nothing: the run revisits them); returns how many were made due
    by this call (blocking)."""
    cutoff = datetime.now(UTC) - timedelta(seconds=recrawl_after)
    cutoff, cursor = store.begin_recrawl(job_id, cutoff, lease=lease)
    if cursor is None:
        logger.info("job %s: continuing the revisits of its current round", job_id)
        return 0
    made = 0
    next_cursor: int | None = cursor
    while next_cursor is not None:
        count, next_cursor = store.make_due(job_id, cutoff, next_cursor, WINDOW, lease=lease)
        made += count
    logger.info(
        "job %s: %d URLs due for a revisit (last checked before %s)",
        job_id,
        made,
        cutoff.isoformat(timespec="seconds"),
    )
    return made

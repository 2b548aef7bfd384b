"""Re-filter a job without fetching: the quality filters and dedup of today's settings
applied again to the texts the store kept (stored and filtered documents alike).

It works a batch of documents at a time, each batch's new verdicts in one transaction
under the job's lease (a crawl of the same job is refused meanwhile, and a refilter
beside a live crawl is refused). A verdict depends only on the stored text and the
settings, so a refilter stopped half-way (Ctrl-C, ``kill -9``) is finished by running it
again: the batches already done come out unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from quarrycore.extract.filters import with_verdict
from quarrycore.extract.neardup import NearDupConfig
from quarrycore.settings import QuarrySettings
from quarrycore.store import DocumentStore
from quarrycore.store.documentstore import Moves
from quarrycore.urls import url_key

logger = logging.getLogger("quarrycore.pipeline")


@dataclass(slots=True)
class RefilterReport:
    """What a refilter changed, over the whole job."""

    job_id: str
    examined: int = 0
    moves: list[Moves] = field(default_factory=list)

    def total(self, name: str) -> int:
        return sum(getattr(move, name) for move in self.moves)

    def summary(self) -> str:
        return (
            f"job {self.job_id}: {self.examined} stored documents judged again; "
            f"{self.total('to_filtered')} kept -> filtered, "
            f"{self.total('to_stored')} filtered -> kept, "
            f"{self.total('to_duplicate')} filtered -> duplicate, "
            f"{self.total('refiltered')} filtered for another reason"
        )


def refilter_job(
    store: DocumentStore,
    job_id: str,
    settings: QuarrySettings,
    *,
    batch_size: int = 500,
    on_batch: Callable[[Moves], None] = lambda moves: None,
) -> RefilterReport:
    """Judge every stored document of the job again and record what changed (blocking).
    Raises :class:`JobLocked` when a live run holds the job."""
    quality = settings.quality
    near = NearDupConfig(threshold=quality.near_dup_threshold) if quality.near_dedup else None
    report = RefilterReport(job_id)
    lease = store.lease(job_id, ttl=settings.job_lock_ttl)
    lease.acquire()
    try:
        after = ""
        while page := store.stored_page(job_id, after, batch_size):
            pairs = [(doc, with_verdict(doc, quality)) for doc in page]
            moves = store.rejudge(job_id, pairs, near_dup=near, lease=lease)
            report.examined += len(page)
            report.moves.append(moves)
            on_batch(moves)
            after = max(url_key(doc.url) for doc in page)
    finally:
        lease.release()
    logger.info("%s", report.summary())
    return report

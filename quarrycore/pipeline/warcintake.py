"""Taking in input WARC files: their response records registered as the job's URLs, a
chunk of records a transaction with the file's progress (``store/warcinput.py``), so a
job killed while doing so goes on from the last committed offset of each file. The
records are then read, extracted and stored by the job's batches exactly as
re-extraction reads the job's own archive: not one request is made."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from quarrycore.archive.files import checked
from quarrycore.archive.inputs import scan
from quarrycore.deadletters import DeadLetterStore
from quarrycore.records import Failure
from quarrycore.settings import QuarrySettings
from quarrycore.store import DocumentStore, JobLock

logger = logging.getLogger("quarrycore.job")


def input_paths(files: Sequence[str]) -> list[str]:
    """The input files as the job keeps them (local paths absolute, URLs as given), each
    found readable first; a :class:`ConfigError` names the first that is not."""
    return [checked(name) for name in files]


def register_files(
    store: DocumentStore,
    dead_letters: DeadLetterStore,
    job_id: str,
    paths: Sequence[str],
    settings: QuarrySettings,
    lease: JobLock,
) -> int:
    """Register the response records of every file not done yet, from where each
    stopped; returns how many URLs were new. A damaged or truncated record ends its file
    with a failure (and a dead letter) naming the file and the offset."""
    added = 0
    for name in paths:
        offset, done = store.warc_progress(job_id, name)
        if done:
            continue
        if offset:
            logger.info("job %s: going on with %s from offset %d", job_id, name, offset)
        for chunk in scan(name, offset, drop_params=settings.drop_params):
            failures: list[Failure] = []
            if chunk.torn_at is not None:
                failures.append(
                    Failure(
                        url=f"{name}#offset={chunk.torn_at}",
                        stage="crawl",
                        error_type="ArchiveUnreadable",
                        message=f"damaged or truncated WARC record at {name}:{chunk.torn_at}: "
                        f"{chunk.error}",
                        retryable=False,
                    )
                )
                dead_letters.record(
                    job_id,
                    failures,
                    per_url={failures[0].url: {"warc_file": name, "warc_offset": chunk.torn_at}},
                )
            added += store.register_warc_records(
                job_id,
                name,
                chunk.records,
                next_offset=chunk.next_offset,
                done=chunk.done,
                failures=failures,
                lease=lease,
            )
    return added

"""A batch's commit: what each URL of the batch becomes, written in the caller's
transaction. First visits are deduplicated and stored; revisits (URLs a recrawl made
due, see revisits.py) are compared with the version the job has: unchanged, changed (a
new version, the old one kept in ``document_versions``) or gone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import sqlalchemy as sa

from quarrycore.extract.neardup import NearDupConfig
from quarrycore.records import NO_VALIDATORS, Document, Failure, NotModified, Validators, WarcRef
from quarrycore.store import documents, frontier, revisits
from quarrycore.store.frontier import Mark
from quarrycore.store.schema import CHANGED, DUPLICATE, FAILED, FILTERED, NEW, STORED, UNCHANGED

GONE_STATUS = frozenset({404, 410})


@dataclass(frozen=True, slots=True)
class Verdicts:
    """What the URLs of one committed batch became."""

    stored: int
    filtered: int
    duplicate: int
    failed: int
    unchanged: int = 0  # revisits that found the page as the job has it
    gone: int = 0  # revisits that found the page removed


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchOutcome:
    """A batch's records as the store takes them."""

    docs: Sequence[Document]
    failures: Sequence[Failure]
    not_modified: Sequence[NotModified] = ()
    validators: Mapping[str, Validators] | None = None
    warc: Mapping[str, WarcRef] | None = None
    changed_only: bool = True  # a revisit with the same text is no new version


def commit(
    conn: sa.Connection,
    job_id: str,
    batch: BatchOutcome,
    *,
    near_dup: NearDupConfig | None,
) -> Verdicts:
    """Write the batch's verdicts (see the module). The caller's transaction holds them."""
    run = revisits.current_run(conn, job_id)
    urls = [d.url for d in batch.docs] + [f.url for f in batch.failures]
    urls += [n.url for n in batch.not_modified]
    prior = revisits.priors(conn, job_id, urls) if run > 1 else {}
    validators = batch.validators or {}

    same = {
        d.url
        for d in batch.docs
        if batch.changed_only and d.url in prior and prior[d.url].content_hash == d.content_hash
    }
    same |= {n.url for n in batch.not_modified}
    revisits.keep(conn, job_id, {url: validators.get(url, NO_VALIDATORS) for url in same}, run)

    fresh = [d for d in batch.docs if d.url not in same]
    changed = [d.url for d in fresh if d.url in prior and prior[d.url].content_hash]
    revisits.archive_versions(conn, job_id, changed)
    documents.forget(conn, job_id, changed, rows=False)  # the old version's band keys
    versions = {url: prior[url].version + 1 for url in changed}
    if run > 1:  # a page with history stored again (re-extracted): after its last version
        first = [d.url for d in fresh if d.url not in versions]
        for url, last in revisits.last_versions(conn, job_id, first).items():
            versions[url] = last + 1

    filtered = [d for d in fresh if not d.kept]
    kept, repeats = documents.split_duplicates(conn, job_id, [d for d in fresh if d.kept], near_dup)
    gone = [
        f.url
        for f in batch.failures
        if f.status_code in GONE_STATUS and f.url in prior and prior[f.url].content_hash
    ]
    failed = [f for f in batch.failures if f.url not in gone]

    def visit(url: str, state: str) -> str:
        if url in versions:
            return CHANGED
        if url in prior and prior[url].state == DUPLICATE == state:
            return UNCHANGED
        return NEW

    marks = [Mark(d.url, STORED, visit=visit(d.url, STORED)) for d in kept]
    marks += [
        Mark(d.url, FILTERED, "filter", d.filter, visit=visit(d.url, FILTERED)) for d in filtered
    ]
    marks += [
        Mark(
            r.document.url,
            DUPLICATE,
            "filter",
            r.kind.__name__,
            r.of,
            visit=visit(r.document.url, DUPLICATE),
        )
        for r in repeats
    ]
    marks += [Mark(f.url, FAILED, f.stage, f.error_type, visit=FAILED) for f in failed]
    refs = batch.warc or {}
    marks = [
        replace(m, warc=refs.get(m.url), validators=validators.get(m.url, NO_VALIDATORS))
        for m in marks
    ]
    documents.insert(conn, job_id, [*kept, *filtered], datetime.now(UTC), versions=versions)
    # A changed page that now repeats another: its old version is kept, no current row.
    documents.forget(
        conn, job_id, [r.document.url for r in repeats if r.document.url in versions], rows=True
    )
    frontier.mark(conn, job_id, marks, run=run)
    revisits.mark_gone(conn, job_id, gone, run)
    return Verdicts(
        stored=len(kept),
        filtered=len(filtered),
        duplicate=len(repeats),
        failed=len(failed),
        unchanged=len(same),
        gone=len(gone),
    )

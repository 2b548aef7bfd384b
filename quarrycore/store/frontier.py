"""The ``job_urls`` table: every URL of every job, and whether it is done. Every
statement on ``job_urls`` is in this module, but re-extraction's (``reextract.py``).

A URL is ``pending`` until the transaction that stores its document (or its failure)
gives it its verdict: ``stored``, ``filtered``, ``duplicate`` or ``failed``; that per-job
record is also the set of URLs a
link-following crawl has seen, so memory does not grow with the crawl.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from quarrycore.db import insert_missing, one_of
from quarrycore.records import NO_VALIDATORS, Failure, Validators, WarcRef
from quarrycore.store import jobs, shards
from quarrycore.store.revisits import current_run
from quarrycore.store.schema import DUPLICATE, FAILED, FILTERED, GONE, PENDING, STORED, job_urls
from quarrycore.urls import normalized_host, url_key

_INSERT_CHUNK = 5000
# The columns of a newly registered URL, in the order _insert_new gives them.
_NEW_ROW = ("job_id", "url_key", "url", "seq", "depth", "state", "stage", "error_type",
            "updated_at", "host")  # fmt: skip
_ERROR_TYPE_LENGTH: int = job_urls.c.error_type.type.length or 64  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class JobCounts:
    """Where a job stands, as the store knows it."""

    job_id: str
    pending: int = 0
    stored: int = 0
    failed: int = 0
    failures_by_type: dict[str, int] = field(default_factory=dict)  # "stage/ErrorType"
    filtered: int = 0
    duplicate: int = 0
    filtered_by: dict[str, int] = field(default_factory=dict)  # filter name -> URLs
    gone: int = 0  # pages a revisit found removed (404/410)
    visit_run: int = 1  # the job's current visit round (1 until a recrawl)
    visits: dict[str, int] = field(default_factory=dict)  # new/changed/... in that round

    @property
    def processed(self) -> int:
        """URLs with a verdict: stored, filtered, duplicate, failed or gone."""
        return self.stored + self.filtered + self.duplicate + self.failed + self.gone

    @property
    def total(self) -> int:
        return self.pending + self.processed


@dataclass(frozen=True, slots=True)
class Mark:
    """What one URL of a committed batch became."""

    url: str
    state: str  # STORED, FILTERED, DUPLICATE or FAILED
    stage: str | None = None
    error_type: str | None = None
    duplicate_of: str | None = None  # the URL whose stored document this one repeats
    warc: WarcRef | None = None  # the archived response the verdict was made from
    visit: str | None = None  # what this visit found: new, changed, unchanged, failed
    validators: Validators = NO_VALIDATORS  # of this visit's response


def count(conn: sa.Connection, job_id: str) -> int:
    query = sa.select(sa.func.count()).select_from(job_urls).where(job_urls.c.job_id == job_id)
    return int(conn.execute(query).scalar_one())


def _counters(conn: sa.Connection, job_id: str) -> tuple[int, int]:
    """(URLs in the job, last registration number): from the job's row, where they are
    kept with every insert; counted once for a job that predates them."""
    kept = jobs.url_counters(conn, job_id)
    if kept is not None:
        return kept
    last = sa.select(sa.func.coalesce(sa.func.max(job_urls.c.seq), 0)).where(
        job_urls.c.job_id == job_id
    )
    counted = count(conn, job_id), int(conn.execute(last).scalar_one())
    jobs.set_url_counters(conn, job_id, *counted)
    return counted


def _host(url: str, failure: Failure | None) -> str:
    if failure is None and url.startswith(("http://", "https://")):
        return normalized_host(url)[:255]  # a normalised URL: no parse needed
    return shards.host_key(url)


def _insert_new(
    conn: sa.Connection,
    job_id: str,
    entries: Sequence[tuple[str, int, Failure | None]],
    limit: int | None,
) -> int:
    """Insert the (URL, depth, failure) entries the job does not have yet, in order, at
    most ``limit`` URLs in the job; returns how many were new. Costs what the entries
    cost, whatever the size of the job: no count of the job's rows."""
    keys = [url_key(url) for url, _, _ in entries]
    by_key = dict(zip(reversed(keys), reversed(entries), strict=True))
    known = set(
        conn.execute(
            sa.select(job_urls.c.url_key).where(
                job_urls.c.job_id == job_id, one_of(job_urls.c.url_key, list(by_key), conn.dialect)
            )
        ).scalars()
    )
    fresh = [key for key in dict.fromkeys(keys) if key not in known]
    total, seq = _counters(conn, job_id)
    if limit is not None:
        fresh = fresh[: max(0, limit - total)]
    if not fresh:
        return 0
    now = datetime.now(UTC)
    hosts = {key: _host(by_key[key][0], by_key[key][2]) for key in fresh}
    fanned_out = shards.shard_count(conn, job_id)
    if fanned_out:  # a new host gets its shard in this transaction
        shards.assign_hosts(conn, job_id, hosts.values(), fanned_out)
    rows = []
    for i, key in enumerate(fresh, start=1):
        url, depth, failure = by_key[key]
        state, stage, error = (
            (PENDING, None, None)
            if failure is None
            else (FAILED, failure.stage, failure.error_type[:_ERROR_TYPE_LENGTH])
        )
        rows.append((job_id, key, url, seq + i, depth, state, stage, error, now, hosts[key]))
    insert_missing(conn, job_urls, _NEW_ROW, rows, keys=["job_id", "url_key"])
    jobs.set_url_counters(conn, job_id, total + len(fresh), seq + len(fresh))
    return len(fresh)


def add(
    conn: sa.Connection,
    job_id: str,
    urls: Iterable[str],
    invalid: Sequence[Failure],
    *,
    limit: int | None = None,
) -> int:
    """Register URLs as pending, in order, and invalid inputs as failed at stage
    ``validate``; URLs the job already has keep their state; at most ``limit`` URLs in
    the job. Returns how many are new."""
    entries: Iterator[tuple[str, int, Failure | None]] = itertools.chain(
        ((url, 0, None) for url in urls), ((f.url, 0, f) for f in invalid)
    )
    added = 0
    while chunk := list(itertools.islice(entries, _INSERT_CHUNK)):
        added += _insert_new(conn, job_id, chunk, limit)
    return added


def enqueue_links(
    conn: sa.Connection, job_id: str, links: Sequence[tuple[str, int]], max_urls: int | None
) -> None:
    """Add the (URL, depth) links the job does not have yet, at most ``max_urls`` in all."""
    _insert_new(conn, job_id, [(url, depth, None) for url, depth in links], max_urls)


def mark(
    conn: sa.Connection,
    job_id: str,
    marks: Sequence[Mark],
    *,
    fetched: bool = True,
    run: int | None = None,
) -> None:
    """Mark URLs done (stored, or failed with stage and error type). ``fetched``: the
    verdicts come from a fetch (or an archived one), whose record, validators and visit
    (in round ``run``) each row then names; a new verdict for a stored text (refilter)
    keeps all that."""
    if not marks:
        return
    values: dict[str, Any] = {
        "state": sa.bindparam("b_state"),
        "stage": sa.bindparam("b_stage"),
        "error_type": sa.bindparam("b_error"),
        "duplicate_of": sa.bindparam("b_dup"),
        "updated_at": datetime.now(UTC),
    }
    if fetched:
        values.update(
            warc_file=sa.bindparam("b_wfile"),
            warc_offset=sa.bindparam("b_woff"),
            warc_length=sa.bindparam("b_wlen"),
            etag=sa.bindparam("b_etag"),
            last_modified=sa.bindparam("b_lm"),
            visit=sa.bindparam("b_visit"),
            visit_run=run or 1,
            checked_at=datetime.now(UTC),
            prior_state=None,
        )
    statement = (
        job_urls.update()
        .where(
            job_urls.c.job_id == sa.bindparam("b_job"),
            job_urls.c.url_key == sa.bindparam("b_key"),
        )
        .values(**values)
    )
    rows: list[dict[str, Any]] = [
        {
            "b_job": job_id,
            "b_key": url_key(m.url),
            "b_state": m.state,
            "b_stage": m.stage,
            "b_error": m.error_type and m.error_type[:_ERROR_TYPE_LENGTH],
            "b_dup": m.duplicate_of,
        }
        for m in marks
    ]
    if fetched:
        for row, m in zip(rows, marks, strict=True):
            ref = m.warc
            row["b_wfile"] = ref.file if ref else None
            row["b_woff"] = ref.offset if ref else None
            row["b_wlen"] = ref.length if ref else None
            row["b_etag"] = m.validators.etag
            row["b_lm"] = m.validators.last_modified
            row["b_visit"] = m.visit
    conn.execute(statement, rows)


def requeue(conn: sa.Connection, job_id: str, urls: Sequence[str]) -> int:
    """Make failed URLs of the job pending again; returns how many were failed."""
    query = (
        job_urls.update()
        .where(
            job_urls.c.job_id == job_id,
            job_urls.c.url_key.in_([url_key(u) for u in urls]),
            job_urls.c.state == FAILED,
        )
        .values(state=PENDING, stage=None, error_type=None, updated_at=datetime.now(UTC))
    )
    return int(conn.execute(query).rowcount)


def _in_shard(job_id: str, shard: int | None) -> list[sa.ColumnElement[bool]]:
    """The condition that keeps a shard's rows (none: the whole job)."""
    return [] if shard is None else [shards.in_shard(job_id, shard)]


def pending_page(
    conn: sa.Connection, job_id: str, after_seq: int, limit: int, shard: int | None = None
) -> list[tuple[str, int, int, Validators]]:
    """Up to ``limit`` pending (URL, seq, depth, validators of its last response when it
    is a revisit) after
    ``after_seq``, in registration order (keyset pagination, so URLs committed meanwhile
    do not shift the pages)."""
    rows = conn.execute(
        sa.select(
            job_urls.c.url,
            job_urls.c.seq,
            job_urls.c.depth,
            job_urls.c.etag,
            job_urls.c.last_modified,
            job_urls.c.prior_state,
        )
        .where(
            job_urls.c.job_id == job_id,
            job_urls.c.state == PENDING,
            job_urls.c.seq > after_seq,
            *_in_shard(job_id, shard),
        )
        .order_by(job_urls.c.seq)
        .limit(limit)
    ).all()
    # Conditional requests for revisits only (a URL a recrawl made due): a 304 restores
    # the verdict it had, which a URL pending for another reason does not have.
    return [
        (
            row.url,
            row.seq,
            row.depth,
            Validators(row.etag, row.last_modified) if row.prior_state else NO_VALIDATORS,
        )
        for row in rows
    ]


def pending_urls(
    conn: sa.Connection, job_id: str, limit: int, shard: int | None = None
) -> list[str] | None:
    """All pending URLs in order, or ``None`` when there are more than ``limit``."""
    rows = (
        conn.execute(
            sa.select(job_urls.c.url)
            .where(
                job_urls.c.job_id == job_id, job_urls.c.state == PENDING, *_in_shard(job_id, shard)
            )
            .order_by(job_urls.c.seq)
            .limit(limit + 1)
        )
        .scalars()
        .all()
    )
    return None if len(rows) > limit else list(rows)


def counts(conn: sa.Connection, job_id: str, shard: int | None = None) -> JobCounts:
    # One pass over the job's rows gives both the verdicts and what the current round's
    # visits found (a large job's checkpoint reads this after every batch).
    run = current_run(conn, job_id)
    by_state: dict[str, int] = {}
    visits: dict[str, int] = {}
    for state, visit, visit_run, n in conn.execute(
        sa.select(job_urls.c.state, job_urls.c.visit, job_urls.c.visit_run, sa.func.count())
        .where(job_urls.c.job_id == job_id, *_in_shard(job_id, shard))
        .group_by(job_urls.c.state, job_urls.c.visit, job_urls.c.visit_run)
    ).all():
        by_state[state] = by_state.get(state, 0) + n
        if visit is not None and (visit_run or 1) == run:
            visits[visit] = visits.get(visit, 0) + n
    by_type = conn.execute(
        sa.select(job_urls.c.state, job_urls.c.stage, job_urls.c.error_type, sa.func.count())
        .where(
            job_urls.c.job_id == job_id,
            job_urls.c.state.in_((FAILED, FILTERED)),
            *_in_shard(job_id, shard),
        )
        .group_by(job_urls.c.state, job_urls.c.stage, job_urls.c.error_type)
    ).tuples()
    failures: dict[str, int] = {}
    filtered_by: dict[str, int] = {}
    for state, stage, etype, n in by_type:
        if state == FAILED:
            failures[f"{stage}/{etype}"] = n
        else:
            filtered_by[str(etype)] = filtered_by.get(str(etype), 0) + n
    return JobCounts(
        job_id=job_id,
        pending=by_state.get(PENDING, 0),
        stored=by_state.get(STORED, 0),
        failed=by_state.get(FAILED, 0),
        failures_by_type=failures,
        filtered=by_state.get(FILTERED, 0),
        duplicate=by_state.get(DUPLICATE, 0),
        filtered_by=filtered_by,
        gone=by_state.get(GONE, 0),
        visit_run=run,
        visits=visits,
    )


def url_states(conn: sa.Connection, job_id: str) -> dict[str, tuple[str, str | None]]:
    rows = conn.execute(
        sa.select(job_urls.c.url, job_urls.c.state, job_urls.c.error_type).where(
            job_urls.c.job_id == job_id
        )
    ).all()
    return {row.url: (row.state, row.error_type) for row in rows}


def duplicates(conn: sa.Connection, job_id: str) -> dict[str, str]:
    rows = conn.execute(
        sa.select(job_urls.c.url, job_urls.c.duplicate_of).where(
            job_urls.c.job_id == job_id, job_urls.c.duplicate_of.is_not(None)
        )
    ).all()
    return {row.url: row.duplicate_of for row in rows}


def iter_pages(engine: sa.Engine, job_id: str, batch_size: int) -> Iterator[list[tuple[str, int]]]:
    """Pending (URL, depth) a batch at a time, each page read in its own connection."""
    last_seq = 0
    while True:
        with engine.connect() as conn:
            page = pending_page(conn, job_id, last_seq, batch_size)
        if not page:
            return
        last_seq = page[-1][1]
        yield [(url, depth) for url, _, depth, _ in page]

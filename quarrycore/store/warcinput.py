"""Registering the response records of input WARC files (an archived crawl) as a job's
URLs: each URL's row names its record (file, offset, length), and each file's progress
(the next record's offset) is written in the same transaction as its records' rows (and a
damaged record's failure), so a job killed half-way through a file continues it from
there, never from its start."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

from quarrycore.db import upsert
from quarrycore.records import Failure, WarcRef
from quarrycore.store import frontier
from quarrycore.store.schema import PENDING, job_urls, warc_inputs
from quarrycore.urls import url_key


def file_key(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()


def progress(conn: sa.Connection, job_id: str, name: str) -> tuple[int, bool]:
    """(the offset to go on from, whether the file is done) of an input file."""
    row = conn.execute(
        sa.select(warc_inputs.c.next_offset, warc_inputs.c.done).where(
            warc_inputs.c.job_id == job_id, warc_inputs.c.file_key == file_key(name)
        )
    ).one_or_none()
    return (0, False) if row is None else (int(row.next_offset), bool(row.done))


def register(
    conn: sa.Connection,
    job_id: str,
    name: str,
    records: Sequence[tuple[str, WarcRef]],
    *,
    next_offset: int,
    done: bool,
    failures: Sequence[Failure] = (),
) -> int:
    """Add the records' URLs to the job, pending, each pointing at its record (a URL the
    job has already keeps its row and record: the first record of a URL wins), and move
    the file's progress on; returns how many URLs were new."""
    added = frontier.add(conn, job_id, [url for url, _ in records], failures)
    if records:
        conn.execute(
            job_urls.update()
            .where(
                job_urls.c.job_id == sa.bindparam("b_job"),
                job_urls.c.url_key == sa.bindparam("b_key"),
                job_urls.c.state == PENDING,
                job_urls.c.warc_file.is_(None),
            )
            .values(
                warc_file=sa.bindparam("b_file"),
                warc_offset=sa.bindparam("b_off"),
                warc_length=sa.bindparam("b_len"),
                updated_at=datetime.now(UTC),
            ),
            [
                {
                    "b_job": job_id,
                    "b_key": url_key(url),
                    "b_file": ref.file,
                    "b_off": ref.offset,
                    "b_len": ref.length,
                }
                for url, ref in records
            ],
        )
    row = {
        "job_id": job_id,
        "file_key": file_key(name),
        "file": name,
        "next_offset": next_offset,
        "done": done,
    }
    upsert(
        conn,
        warc_inputs,
        [row],
        keys=["job_id", "file_key"],
        update=["next_offset", "done"],
    )
    return added


def all_progress(conn: sa.Connection, job_id: str) -> dict[str, int]:
    """Each input file of the job -> the offset its reading goes on from (-1: done)."""
    rows = conn.execute(
        sa.select(warc_inputs.c.file, warc_inputs.c.next_offset, warc_inputs.c.done).where(
            warc_inputs.c.job_id == job_id
        )
    ).all()
    return {str(row.file): -1 if row.done else int(row.next_offset) for row in rows}

"""The ``jobs`` table: one row a job (status, settings) and the lease of the run that
holds it. Every statement on ``jobs`` is in this module.

One live run per job: the holder renews its lease (a heartbeat) while it runs. Another
run may take it once it has expired, judged on the database's clock with the holder's
own time to live, or at once when the holder was a process of this machine (same host
and PID namespace) that no longer exists (``kill -9`` leaves no stuck lock). Every take
raises the job's fencing token; a heartbeat and every batch commit check, in their own
transaction, that this run's token is still the job's, so a run that lost its lease can
never commit again (``JobLockLost``).
"""

from __future__ import annotations

import os
import secrets
import socket
import zlib
from datetime import UTC, datetime
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from quarrycore.db import db_epoch, upsert
from quarrycore.exceptions import JobLocked, JobLockLost
from quarrycore.store.schema import job_shards, jobs


def serialize_commits(conn: sa.Connection, job_id: str) -> None:
    """Hold the job's commit lock until this transaction ends: a commit reads (which
    texts the job has) then writes (the new ones), and two processes committing batches
    of one job at once each kept the same text once (read-then-write in two
    transactions). PostgreSQL: a transaction-scoped advisory lock on the job. SQLite: a
    write as the transaction's first statement, which takes the database's write lock
    before anything is read."""
    if conn.dialect.name == "postgresql":
        key = zlib.crc32(f"quarry-job:{job_id}".encode())
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    else:
        conn.execute(
            jobs.update().where(jobs.c.job_id == job_id).values(updated_at=jobs.c.updated_at)
        )


def job_exists(conn: sa.Connection, job_id: str) -> bool:
    return conn.execute(sa.select(jobs.c.job_id).where(jobs.c.job_id == job_id)).first() is not None


def start_job(conn: sa.Connection, job_id: str, settings: dict[str, Any]) -> None:
    """Create the job's row (its settings kept from the first run) or mark it running."""
    now = datetime.now(UTC)
    row = {"job_id": job_id, "status": "running", "created_at": now, "updated_at": now}
    upsert(
        conn,
        jobs,
        [{**row, "settings": settings}],
        keys=["job_id"],
        update=["status", "updated_at"],
    )


def set_job_status(conn: sa.Connection, job_id: str, status: str) -> None:
    conn.execute(
        jobs.update()
        .where(jobs.c.job_id == job_id)
        .values(status=status, updated_at=datetime.now(UTC))
    )


def job_settings(conn: sa.Connection, job_id: str) -> dict[str, Any]:
    value = conn.execute(
        sa.select(jobs.c.settings).where(jobs.c.job_id == job_id)
    ).scalar_one_or_none()
    return dict(value or {})


def job_status(conn: sa.Connection, job_id: str) -> str | None:
    status: str | None = conn.execute(
        sa.select(jobs.c.status).where(jobs.c.job_id == job_id)
    ).scalar_one_or_none()
    return status


def job_ids(conn: sa.Connection) -> list[str]:
    return list(conn.execute(sa.select(jobs.c.job_id).order_by(jobs.c.created_at)).scalars())


def unfinished_intake(conn: sa.Connection, job_id: str) -> list[str] | None:
    """The files of a registration of the job's inputs left unfinished (``[]``: inputs
    given inline), or ``None`` when none was."""
    row = conn.execute(
        sa.select(jobs.c.intake_started, jobs.c.intake_files).where(jobs.c.job_id == job_id)
    ).one_or_none()
    if row is None or row.intake_started is None:
        return None
    return list(row.intake_files or [])


def mark_intake(conn: sa.Connection, job_id: str, files: list[str] | None) -> None:
    """Mark a registration of the job's inputs (from ``files``) under way, or (``None``)
    finished."""
    conn.execute(
        jobs.update()
        .where(jobs.c.job_id == job_id)
        .values(
            intake_started=None if files is None else datetime.now(UTC),
            intake_files=files,
        )
    )


def url_counters(conn: sa.Connection, job_id: str) -> tuple[int, int] | None:
    """(URLs in the job, last registration number), or None while not kept yet."""
    row = conn.execute(
        sa.select(jobs.c.url_count, jobs.c.last_seq).where(jobs.c.job_id == job_id)
    ).one_or_none()
    if row is None or row.url_count is None or row.last_seq is None:
        return None
    return int(row.url_count), int(row.last_seq)


def set_url_counters(conn: sa.Connection, job_id: str, count: int, last_seq: int) -> bool:
    """Keep these counters from now on; False when the job has no row."""
    query = jobs.update().where(jobs.c.job_id == job_id)
    return bool(conn.execute(query.values(url_count=count, last_seq=last_seq)).rowcount)


# -- the lease ------------------------------------------------------------------------


@cache
def _machine() -> str:
    """This host and PID namespace: where a holder's PID means something (containers of
    the same hostname have PID namespaces of their own)."""
    try:
        namespace = os.readlink("/proc/self/ns/pid").removeprefix("pid:").strip("[]")
    except OSError:
        namespace = "-"
    return f"{socket.gethostname()}/{namespace}"


def new_owner() -> str:
    return f"{_machine()}:{os.getpid()}:{secrets.token_hex(4)}"


def holder_is_dead(owner: str) -> bool:
    machine, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if machine != _machine() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class JobLock:
    """The lease of one job in one store, and its fencing token once acquired; with
    ``shard``, the lease of that shard of a job fanned out (its row in ``job_shards``,
    the same columns and rules): shards of one job run at once, each under its own."""

    def __init__(
        self,
        engine: Engine,
        job_id: str,
        *,
        ttl: float,
        owner: str | None = None,
        shard: int | None = None,
    ):
        self._engine = engine
        self.job_id = job_id
        self.shard = shard
        self.ttl = ttl
        self.owner = owner or new_owner()
        self.token: int | None = None
        self._table = jobs if shard is None else job_shards
        self._key = [self._table.c.job_id == job_id]
        if shard is not None:
            self._key.append(job_shards.c.shard == shard)

    @property
    def _what(self) -> str:
        return f"job {self.job_id!r}" + ("" if self.shard is None else f" shard {self.shard}")

    def acquire(self) -> int:
        """Take the lease (free, expired, or held by a dead process of this machine);
        returns the new fencing token. Raises :class:`JobLocked` otherwise."""
        t = self._table
        with self._engine.begin() as conn:
            now = db_epoch(conn.dialect.name)
            holder = conn.execute(
                sa.select(
                    t.c.lock_owner,
                    t.c.lock_token,
                    t.c.lock_expires,
                    t.c.lock_heartbeat,
                    now.label("now"),
                ).where(*self._key)
            ).one_or_none()
            if holder is None:
                raise JobLocked(f"{self._what} does not exist")
            owner, token, expires, heartbeat, db_now = holder
            if expires is None and heartbeat is not None:
                # A lease written before expiry times were kept: judge it as before.
                seen = heartbeat if heartbeat.tzinfo else heartbeat.replace(tzinfo=UTC)
                expires = seen.timestamp() + self.ttl
            dead = owner is not None and holder_is_dead(owner)
            free = owner is None or owner == self.owner or expires is None or expires < db_now
            free = free or dead
            if not free:
                left = expires - db_now if expires is not None else 0.0
                raise JobLocked(
                    f"{self._what} is being run by {owner}; wait for it to finish, "
                    f"or for its lease to expire (in {left:.0f} s without a heartbeat)"
                )
            # Compare-and-set on owner and token: of two runs that both saw the lease
            # free, one wins. An expiry is checked again as the row is written: a
            # holder's commit in flight renews it, and then the lease is not free.
            new_token = (token or 0) + 1
            still_free = [] if dead or owner in (None, self.owner) else [_expired(t, now)]
            taken = conn.execute(
                t.update()
                .where(
                    *self._key,
                    _is(t.c.lock_owner, owner),
                    _is(t.c.lock_token, token),
                    *still_free,
                )
                .values(
                    lock_owner=self.owner,
                    lock_token=new_token,
                    lock_expires=now + self.ttl,
                    lock_heartbeat=datetime.now(UTC),
                )
            ).rowcount
            if taken != 1:
                raise JobLocked(f"{self._what} was taken by another run just now")
        self.token = new_token
        return new_token

    def fence(self, conn: sa.Connection) -> None:
        """In the caller's transaction: prove this run still holds the lease (and renew
        it), or raise :class:`JobLockLost` so the transaction commits nothing. On
        PostgreSQL the row stays locked until that transaction ends, so a taker waits
        for a commit in flight instead of racing it."""
        t = self._table
        renewed = conn.execute(
            t.update()
            .where(
                *self._key,
                t.c.lock_owner == self.owner,
                t.c.lock_token == self.token,
            )
            .values(
                lock_expires=db_epoch(conn.dialect.name) + self.ttl,
                lock_heartbeat=datetime.now(UTC),
            )
        ).rowcount
        if renewed != 1:
            raise JobLockLost(
                f"{self._what}: this run's lease was taken by another run (its "
                "heartbeats stopped for longer than the lease's time to live); it stops "
                "without committing"
            )

    def heartbeat(self) -> None:
        """Renew the lease; :class:`JobLockLost` when another run has taken it."""
        with self._engine.begin() as conn:
            self.fence(conn)

    def release(self) -> None:
        t = self._table
        with self._engine.begin() as conn:
            conn.execute(
                t.update()
                .where(*self._key, t.c.lock_owner == self.owner)
                .values(lock_owner=None, lock_heartbeat=None, lock_expires=None)
            )


def _expired(t: sa.Table, now: sa.ColumnElement[float]) -> sa.ColumnElement[bool]:
    return sa.or_(t.c.lock_expires.is_(None), t.c.lock_expires < now)


def _is(column: sa.ColumnElement[object], value: object) -> sa.ColumnElement[bool]:
    return column.is_(None) if value is None else column == value
